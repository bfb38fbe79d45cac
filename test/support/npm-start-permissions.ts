/**
 * `npm start`'s Deno permissions for a gateway on `dataDir` (package.json "start"), for specs and
 * benches that run the service as an operator does. `allowRun` is the executable a cluster's
 * supervisor may start its workers with.
 */
export function npmStartPermissions(dataDir: string, allowRun?: string): string[] {
  return [
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    `--allow-read=.,${dataDir}`,
    `--allow-write=${dataDir}`,
    ...(allowRun ? [`--allow-run=${allowRun}`] : []),
  ];
}
