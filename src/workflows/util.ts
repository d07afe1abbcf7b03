// Small pure helpers of the workflow code.
import type { ArtifactRef } from '../domain/types';

export function numberMeta(ref: ArtifactRef, key: string): number | null {
  const v = ref.metadata?.[key];
  return typeof v === 'number' ? v : null;
}

export function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

export function stripExtension(name: string): string {
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(0, i) : name;
}
