import { MamoriClientError } from './errors';

/** Rejects with DEADLINE_EXCEEDED at `deadline` if `work` has not settled; `work` itself goes on. */
export function withDeadline<T>(work: Promise<T>, deadline: number, budgetMs: number, what = 'the check'): Promise<T> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.reject(MamoriClientError.deadlineExceeded(what, budgetMs));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(MamoriClientError.deadlineExceeded(what, budgetMs)), left);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
