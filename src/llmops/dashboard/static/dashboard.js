// llmops dashboard: the one script (no library, nothing fetched). A clicked waterfall span is marked
// selected and its attributes are kept in the side panel; without JavaScript the rows still expand.
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector('[data-testid="span-panel"]');
  if (!panel) return;
  document.querySelectorAll('[data-testid="span"]').forEach((row) => {
    row.querySelector("summary").addEventListener("click", () => {
      document.querySelectorAll('[data-testid="span"].selected').forEach((other) => other.classList.remove("selected"));
      row.classList.add("selected");
      const detail = row.querySelector('[data-testid="span-detail"]').cloneNode(true);
      detail.setAttribute("data-testid", "panel-detail");
      panel.replaceChildren(detail);
      panel.dataset.spanName = row.dataset.spanName;
    });
  });
});
