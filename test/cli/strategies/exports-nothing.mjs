// A strategy file that forgot its export.
export const helper = 1;
