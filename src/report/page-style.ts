/** The report page's style sheet (inline; the page's CSP allows it by hash). */
export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 16px; }
`;
