// eslint-disable-next-line @typescript-eslint/consistent-type-imports -- a script (no imports) must name the type inline
declare const RED: import("@node-red/editor-client").RED;
