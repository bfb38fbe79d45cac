// Jest runs under Deno (see package.json "test"); @swc/jest compiles TypeScript with legacy
// decorators and decorator metadata, which Nest's parameter decorators need.
export default {
  testEnvironment: "node",
  roots: ["<rootDir>/src", "<rootDir>/test"],
  testMatch: ["**/*.spec.ts", "**/*.e2e-spec.ts"],
  moduleFileExtensions: ["ts", "js", "json"],
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": ["@swc/jest", {
      jsc: {
        parser: { syntax: "typescript", decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: "es2022",
        keepClassNames: true,
      },
      module: { type: "es6" },
    }],
  },
  // @nestjs/throttler is CommonJS that require()s the ESM-only @nestjs/common, which jest under
  // Deno cannot do; globalSetup writes an ES-module copy of the real package and this maps to it.
  globalSetup: "<rootDir>/test/support/jest-global-setup.ts",
  moduleNameMapper: {
    "^@nestjs/throttler$":
      "<rootDir>/node_modules/.cache/modelpilot-jest/nestjs-throttler/index.mjs",
  },
  setupFilesAfterEnv: ["<rootDir>/test/support/jest-setup.ts"],
  testTimeout: 30000,
  maxWorkers: 1,
};
