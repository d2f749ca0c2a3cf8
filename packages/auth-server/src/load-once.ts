// Something loaded at its first use (a library the operator CLI never needs, a mail transport): the first call
// starts the load and every call shares its promise; a failed load is forgotten, so the next call tries again.
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
}
