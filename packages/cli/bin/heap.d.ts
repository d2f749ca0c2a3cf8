export declare const SERVICE_OLD_SPACE_MB: number;
export declare function serviceAllocatorEnv(env?: NodeJS.ProcessEnv): Record<string, string>;
export declare function serviceHeapFlags(execArgv?: string[], env?: NodeJS.ProcessEnv): string[];
export declare function serviceContextFlags(execArgv?: string[], env?: NodeJS.ProcessEnv): string[];
export declare function serviceNodeFlags(execArgv?: string[], env?: NodeJS.ProcessEnv): string[];
export declare function startsOneService(args: string[]): boolean;
