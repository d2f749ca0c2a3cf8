export declare const SERVICE_OLD_SPACE_MB: number;
export declare function serviceHeapFlags(execArgv?: string[], env?: NodeJS.ProcessEnv): string[];
export declare function startsOneService(args: string[]): boolean;
