/**
 * ctxbench's public API: the same work as the CLI, returning typed results.
 *
 * @example
 * import { compare, naiveStrategy, optimizedStrategy } from 'ctxbench';
 * const report = await compare({ strategies: [naiveStrategy, optimizedStrategy] });
 */
export { compare, type CompareOptions } from './commands/compare.js';
export { replay, type ReplayOptions, type ReplayResult } from './commands/replay.js';
export { seed, type SeedCommandOptions, type SeedResult } from './commands/seed.js';
export { defineStrategy } from './core/strategies/define-strategy.js';
export { naiveStrategy } from './core/strategies/naive-strategy.js';
export { optimizedStrategy } from './core/strategies/optimized-strategy.js';
export { builtInStrategies } from './core/strategies/index.js';
export { loadStrategies, loadStrategyFile } from './core/strategies/load-strategy.js';
export { renderPrompt, promptSha256, promptBytes, messageTokens, speakerFor } from './core/render/prompt-renderer.js';
export { openSession, type ProfilingSession, type Measurement, type SessionOptions } from './core/session.js';
export { CtxbenchError, UsageError, DatabaseError, StrategyError, ExitCode, maskUrl } from './core/errors.js';
export type * from './core/types.js';
export type * from './report/model.js';
export { REPORT_VERSION } from './report/model.js';
export { profile, type ProfileOptions, type ProfileResult, type ProfileTarget } from './core/profile.js';
export { initFingerprinting, fingerprintSql } from './core/analysis/fingerprint.js';
export { diagnose, type DiagnoseOptions, type Diagnosis } from './commands/diagnose.js';
export { check, checkReport, snapshotBaseline, type CheckOptions, type GateOptions } from './commands/check.js';
export { merge, mergeFiles, mergeReports, mergeSweeps, readShardReports, readReportFile, type ShardReport, type SweepShard } from './commands/merge.js';
export { parseShard, partitionTurns, selectShard, turnSetSha256, type ShardSpec, type ShardTurn } from './core/shard.js';
export { sweep, type SweepOptions, type SweepResult } from './commands/sweep.js';
export { record, serveProxy, recordingReport, StatementLog, startWireProxy, markerOf, type RecordOptions, type RecordResult, type ServeProxyOptions, type RecordingReportOptions, type RecordedTurn, type RecordedStatement, type RecordingInfo, type ProxyRecording, type ProxiedStatement, type ProxiedConnection, type UpstreamSslMode, type UpstreamTls, type WireProxy, type WireProxyOptions } from './commands/record.js';
export { TurnDetailSpill } from './core/detail-spill.js';
export { renderJson, renderJsonChunks, DETAIL_LEVELS, type DetailLevel, type JsonOptions } from './report/json.js';
