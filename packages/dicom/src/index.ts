export type { InstanceAttributes } from './index-attributes.ts';
export type { Matcher, QueryLevel } from './matching.ts';
