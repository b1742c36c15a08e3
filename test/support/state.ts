import helper from "node-red-node-test-helper";

/**
 * For node specs that read what a node keeps through Node-RED's context API: settings declare the
 * default context store persistent, so the node keeps its state in context (as it does for a user
 * whose default store is localfilesystem) and not in the pack's state file. The test helper loads
 * no context plugin: behind the API is Node-RED's memory store, which the spec reads.
 */
export function stateInContext(): void {
  before(useContextState);
  after(() => void helper.settings({}));
}

export function useContextState(): void {
  helper.settings({ contextStorage: { default: { module: "localfilesystem" } } });
}
