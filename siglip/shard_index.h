// shard_index.h: shardindex.json, the per-shard sample counts that let training start without reading its shards.
//
// Training needs each shard's number of usable samples before the first step (the stream order of an epoch is made
// from them: siglip/shard_loader.h) and the label names. Reading them from the shards costs a pass over all the
// data, which grows with the data set; `siglip data pack` and `siglip data index` write them once into
// DIR/shardindex.json beside the shards, in the layout of webdataset's wids index, with three fields of our own
// per shard:
//   {"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": "...",
//    "shardlist": [{"url": "00000.tar", "nsamples": 5000, "filesize": 4718592,
//                   "bad": 0, "labels": ["0", "3", ...]}, ...]}
// url: the shard's file name relative to the index's folder; nsamples: its usable samples; filesize: its size in
// bytes when indexed (a shard whose size differs is read again: the entry is stale); bad: samples left out as
// structurally bad (no image or caption member; a truncated shard counts 1); labels: the distinct raw label
// values of its samples. An entry without filesize, bad or labels (a wids index made elsewhere) is not used.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sg {

struct ShardIndexEntry {
  uint64_t samples = 0;   // usable samples
  uint64_t filesize = 0;  // bytes of the shard when it was indexed
  uint64_t bad = 0;       // structurally bad samples left out
  std::set<std::string> labels;
};

inline constexpr const char* kShardIndexName = "shardindex.json";

// The index in the folder of `shard` (DIR/shardindex.json), by shard path (DIR/url); empty when there is none.
// Throws sg::Error naming the file when it exists but is not a valid index.
std::map<std::string, ShardIndexEntry> read_shard_index(const std::string& shard);
// The same from the index's text; `file`: its path (DIR/shardindex.json), for the keys and the errors.
std::map<std::string, ShardIndexEntry> parse_shard_index(const std::string& file, const std::string& text);

// The entry of `shard` if the index has one that still describes it (same file size) and has our fields.
std::optional<ShardIndexEntry> indexed_entry(const std::map<std::string, ShardIndexEntry>& index,
                                             const std::string& shard);

// Writes DIR/shardindex.json atomically for `shards` (all in DIR), entries in the same order. `name`: the data set's.
void write_shard_index(const std::string& dir, const std::string& name, const std::vector<std::string>& shards,
                       const std::vector<ShardIndexEntry>& entries);

}  // namespace sg
