import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";
import mocha from "eslint-plugin-mocha";

const UNSHIPPED = {
  regex: "^(\\.\\./)+(sandbox|test|bench|scripts)(/|$)",
  message: "sandbox/, test/, bench/ and scripts/ are not shipped: the package cannot import them.",
};
/** What lib/ may not import (as import specifiers: lib/ reaches other folders by ../). */
export const LIB_BOUNDARIES = [
  {
    regex: "^(node-red|@node-red/.*)(/.*)?$",
    message: "lib/ is pure logic: it never imports Node-RED (adapt it in nodes/).",
  },
  {
    regex: "^(\\.\\./)+nodes(/|$)",
    message: "lib/ never imports nodes/: the nodes depend on lib, not the other way round.",
  },
  UNSHIPPED,
];
/** What nodes/ may not import. */
export const NODES_BOUNDARIES = [UNSHIPPED];

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "dist.next/**",
      "dist.old/**",
      "build/**",
      "node_modules/**",
      ".node-red-data/**",
      "test-output/**",
      ".stryker-tmp/**",
      "reports/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-console": "off",
    },
  },
  {
    // A stray .only or .skip (no-pending-tests) would shrink the run silently; two tests with one title hide each other.
    files: ["test/**/*.ts"],
    plugins: { mocha },
    rules: {
      "mocha/no-exclusive-tests": "error",
      "mocha/no-pending-tests": "error",
      "mocha/no-nested-tests": "error",
      "mocha/no-empty-title": "error",
      "mocha/no-identical-title": "error",
      "mocha/handle-done-callback": "error",
      "mocha/no-return-and-callback": "error",
    },
  },
  {
    files: ["lib/**/*.ts", "nodes/**/*.ts"],
    ignores: ["nodes/**/*.editor.ts"],
    rules: { "no-console": "error" },
  },
  // The layers (docs/architecture.md): lib/ is pure logic that knows nothing of Node-RED, the
  // nodes or the sandbox; nodes/ adapt lib/ to Node-RED and never reach into the sandbox; what the
  // package does not ship (sandbox/, test/, bench/, scripts/) is imported by neither.
  // test/meta/boundaries.spec.ts lints a violation of each rule to prove that it is caught.
  {
    files: ["lib/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: [...LIB_BOUNDARIES] }],
    },
  },
  {
    files: ["nodes/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: [...NODES_BOUNDARIES] }],
    },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        module: "writable",
        __dirname: "readonly",
        process: "readonly",
        console: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  prettier,
);
