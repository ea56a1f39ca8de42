#!/usr/bin/env node
// Thin launcher so `npx healthsynth` runs the TypeScript CLI without a build step.
import { register } from 'tsx/esm/api';
register();
await import('../src/client.ts');
