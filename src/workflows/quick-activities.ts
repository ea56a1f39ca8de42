/**
 * The proxy for short activities that only read or compose (the pipeline settings, another run's state, a
 * message's text): 30 s an attempt, 5 attempts. The workflows share it, one proxy per timeout profile.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';

export const quickActivities = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
