// The subset of cli-progress this CLI uses. DefinitelyTyped's package pulls in the whole of
// @types/node as globals (`/// <reference types="node" />`), which clashes with Deno's own Node
// types wherever both are checked together, so the few signatures we need are declared here.
declare const cliProgress: {
  SingleBar: new (
    options: Record<string, unknown>,
    preset?: Record<string, unknown>,
  ) => {
    start(total: number, start: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    setTotal(total: number): void;
    stop(): void;
  };
  Presets: { shades_classic: Record<string, unknown> };
};
export default cliProgress;
