/** RFC 9110 §5.6.2: a token (header names, methods). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Anything a field value may not hold: it is visible ASCII, obs-text, space and tab (§5.5). */
export const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
