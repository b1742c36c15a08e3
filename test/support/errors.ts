/** The `code` of what `fn` throws; undefined when it returns. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** The message of what `fn` throws; "" when it returns. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return "";
}

/** What a promise rejects with (code, message, cause); an empty object when it resolves. */
export async function rejectionOf(
  p: Promise<unknown>,
): Promise<{ code?: string; message?: string; cause?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message?: string; cause?: unknown };
  }
  return {};
}
