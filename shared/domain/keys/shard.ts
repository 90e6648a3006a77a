/**
 * The shard (0 … shards − 1) of a key: FNV-1a (32-bit) of its UTF-16 code units, so a key always
 * lands on the same shard and keys spread evenly.
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}
