#!/usr/bin/env node
// Thin launcher so `npx healthsynth` runs the TypeScript CLI without a build step.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every start that releases from 2027 need Node 22; the locked version runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../src/client.ts');
