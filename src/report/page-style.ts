/** The report page's style sheet (inline; the page's CSP allows it by hash). System fonts only: nothing loads. */
export const PAGE_STYLE = `
:root { --error: #c62828; --warning: #ef8f00; --info: #1565c0; --ok: #2e7d32; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
main { max-width: 1280px; margin: 0 auto; padding: 16px; }
code, .c-name, .code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.top .title { color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; margin-bottom: 8px; overflow-wrap: anywhere; }
.verdict { display: flex; gap: 12px; align-items: baseline; padding: 14px 16px; border-radius: 6px; color: #fff; font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
.verdict .badge { flex: none; white-space: nowrap; text-transform: uppercase; font-size: 12px; letter-spacing: .06em; padding: 2px 8px; border-radius: 10px; background: rgba(255,255,255,.22); }
.verdict.sev-error { background: var(--error); } .verdict.sev-warning { background: var(--warning); color: #1b1f24; }
.verdict.sev-info { background: var(--info); } .verdict.sev-ok { background: var(--ok); }
.facts { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 12px 0 0; padding: 10px 14px; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.fact { display: flex; gap: 6px; } .fact dt { color: var(--muted); } .fact dt::after { content: ":"; } .fact dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.panel { margin-top: 16px; padding: 12px 16px; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.panel h2 { font-size: 16px; margin: 0 0 10px; }
.finding-group { border-left: 4px solid var(--line); padding-left: 12px; margin-bottom: 12px; }
.finding-group.sev-error { border-color: var(--error); } .finding-group.sev-warning { border-color: var(--warning); } .finding-group.sev-info { border-color: var(--info); }
.finding-group h3 { font-size: 14px; margin: 4px 0; }
.finding { padding: 6px 0; border-top: 1px solid #eaeef2; overflow-wrap: anywhere; }
.finding .code { font-weight: 700; margin-right: 8px; padding: 1px 6px; border-radius: 4px; background: #eaeef2; }
.sev-error .code { color: var(--error); } .sev-warning .code { color: #9a5b00; } .sev-info .code { color: var(--info); }
.action { color: var(--muted); margin-top: 2px; }
.concerns summary { cursor: pointer; color: var(--muted); }
.names { margin: 4px 0; padding-left: 20px; } .more { color: var(--muted); }
.name-link { font: inherit; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; background: none; border: 0; padding: 0; color: var(--info); cursor: pointer; text-align: left; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
.chart { margin: 0; } .chart figcaption { font-weight: 600; margin-bottom: 4px; }
.chart-svg { width: 100%; height: auto; background: #fff; }
.chart-svg .axis { stroke: #8c959f; stroke-width: 1; } .chart-svg .tick { font-size: 10px; fill: var(--muted); }
.chart-svg .axis-title { font-size: 11px; fill: var(--muted); } .chart-svg .inf-mark { fill: #7f0000; font-weight: 700; }
.chart-svg .hit { fill: transparent; } .chart-svg .hit:hover { fill: rgba(0,0,0,.06); }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.metric-pick { display: block; margin: 12px 0 6px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin-bottom: 8px; }
.filters input[type=search] { width: 22em; padding: 4px 8px; }
.count { color: var(--muted); margin-left: auto; }
.table-scroll { height: 70vh; min-height: 320px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
.tensor-table { border-collapse: collapse; table-layout: fixed; min-width: 100%; }
.tensor-table th { position: sticky; top: 0; z-index: 1; background: #eaeef2; text-align: left; width: 7.5em; }
.tensor-table th:first-child { width: 30em; } .tensor-table th.c-dtype { width: 12em; }
.tensor-table .sort { font: inherit; font-weight: 600; background: none; border: 0; padding: 4px 6px; cursor: pointer; width: 100%; text-align: inherit; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tensor-table tr { height: 24px; }
.tensor-table td { padding: 0 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-bottom: 1px solid #eaeef2; }
.tensor-table .c-num { text-align: right; font-variant-numeric: tabular-nums; }
.tensor-table tr.spacer { height: auto; }
.tensor-table tr.spacer td { padding: 0; border: 0; }
.tensor-table tr.sev-error td:first-child { box-shadow: inset 4px 0 var(--error); }
.tensor-table tr.sev-warning td:first-child { box-shadow: inset 4px 0 var(--warning); }
.tensor-table tr.sev-info td:first-child { box-shadow: inset 4px 0 var(--info); }
.tensor-table tr.sev-error { background: #fdecea; } .tensor-table tr.sev-warning { background: #fff6e5; }
.no-rows td { color: var(--muted); padding: 12px; }
.empty { color: var(--muted); }
.foot { margin: 16px 0; color: var(--muted); font-size: 12px; }
.noscript { padding: 16px; }
/* Names and messages come from files: keep right-to-left overrides in them from reordering the text around them. */
td, dt, dd, .message, .action, .verdict-text, .title, .names li { unicode-bidi: isolate; }
`;
