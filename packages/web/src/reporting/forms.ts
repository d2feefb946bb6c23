import type { FormInstance } from 'antd';

/** The form's values when they validate, else undefined (the form shows the errors; nothing is thrown). */
export async function validated<T>(form: FormInstance<T>): Promise<T | undefined> {
  try {
    return await form.validateFields();
  } catch {
    return undefined;
  }
}
