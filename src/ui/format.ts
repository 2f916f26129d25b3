// Formatting helpers for the page: sizes, rates and durations as people read them. Pure.
import type { ExportReport } from '../core/exchange/export-report.ts';
import type { RunRecord } from '../core/training/run-protocol.ts';

/** Where a run trained: "wasm · engine · 2 threads", or "imported · PyTorch 1.13, 2 processes on …" for a run
 * imported from a cluster. */
export function backendLabel(run: RunRecord): string {
  if (run.imported) return `imported · ${run.imported.trainedWith}`;
  if (run.backend === null) return '—';
  return `${run.backend.name}${run.backend.engine ? ' · engine' : ''}${run.backend.threads ? ` · ${run.backend.threads} threads` : ''}`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '?';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

/** A fraction as people read an accuracy: 0.9134 → "91.3 %"; nothing yet → "—". */
export function formatPercent(fraction: number | null | undefined, digits = 1): string {
  return fraction === null || fraction === undefined ? '—' : `${(fraction * 100).toFixed(digits)} %`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** "1 file", "2 files": a count with its noun in the right number. */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${formatCount(n)} ${n === 1 ? singular : plural}`;
}

/** e.g. "uint8 weights: 0.21 MB (−75 %) instead of 0.84 MB · test top-1 91.2 % (−0.3 points) on 90 drawings". */
export function describeExport(report: ExportReport): string {
  const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(2)} MB`;
  const signed = (v: number, digits: number) => `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(v).toFixed(digits)}`;
  const size = report.precision === 'float32'
    ? `float32 weights: ${mb(report.weightBytes)}`
    : `${report.precision} weights: ${mb(report.weightBytes)} (${signed((report.weightBytes / report.float32WeightBytes - 1) * 100, 0)} %) instead of ${mb(report.float32WeightBytes)}`;
  const { accuracy } = report;
  const quality = accuracy === null ? report.accuracyNote ?? ''
    : `test top-1 ${formatPercent(accuracy.top1)} (${signed((accuracy.top1 - accuracy.float32Top1) * 100, 1)} points from ${formatPercent(accuracy.float32Top1)}) on ${accuracy.testCount} drawings`;
  return `${size} · ${quality} · downloaded ${mb(report.downloadBytes)}`;
}
