// shard_index.cpp: reading and writing shardindex.json (see shard_index.h).
#include "siglip/shard_index.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"

namespace sg {
namespace fs = std::filesystem;

std::map<std::string, ShardIndexEntry> read_shard_index(const std::string& shard) {
  const fs::path file = fs::path(shard).parent_path() / kShardIndexName;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return {};
  return parse_shard_index(file.string(), read_file(file.string()));
}

std::map<std::string, ShardIndexEntry> parse_shard_index(const std::string& file_name, const std::string& text) {
  std::map<std::string, ShardIndexEntry> index;
  const fs::path file(file_name);
  const fs::path dir = file.parent_path();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("data: {}: not valid JSON ({}); delete it or rewrite it with `siglip data index`", file.string(), e.what());
  }
  SG_CHECK(j.is_object() && j.contains("shardlist") && j["shardlist"].is_array(),
           "data: {}: expected an object with a \"shardlist\" array (a wids shard index)", file.string());
  size_t i = 0;
  for (const nlohmann::json& e : j["shardlist"]) {
    SG_CHECK(e.is_object() && e.contains("url") && e["url"].is_string() && e.contains("nsamples") &&
                 e["nsamples"].is_number_unsigned(),
             "data: {}: shardlist[{}] needs a string \"url\" and a count \"nsamples\"", file.string(), i);
    ++i;
    const bool ours = e.contains("filesize") && e["filesize"].is_number_unsigned() && e.contains("bad") &&
                      e["bad"].is_number_unsigned() && e.contains("labels") && e["labels"].is_array();
    if (!ours) continue;  // a wids index made elsewhere: the shard is read
    ShardIndexEntry entry;
    entry.samples = e["nsamples"].get<uint64_t>();
    entry.filesize = e["filesize"].get<uint64_t>();
    entry.bad = e["bad"].get<uint64_t>();
    for (const nlohmann::json& l : e["labels"]) {
      SG_CHECK(l.is_string(), "data: {}: shardlist[{}].labels must be strings", file.string(), i - 1);
      entry.labels.insert(l.get<std::string>());
    }
    index[(dir / e["url"].get<std::string>()).lexically_normal().string()] = std::move(entry);
  }
  return index;
}

std::optional<ShardIndexEntry> indexed_entry(const std::map<std::string, ShardIndexEntry>& index,
                                             const std::string& shard) {
  auto it = index.find(fs::path(shard).lexically_normal().string());
  if (it == index.end()) return std::nullopt;
  std::error_code ec;
  const uintmax_t size = fs::file_size(shard, ec);
  if (ec || size != it->second.filesize) return std::nullopt;  // missing or rewritten since: read it
  return it->second;
}

void write_shard_index(const std::string& dir, const std::string& name, const std::vector<std::string>& shards,
                       const std::vector<ShardIndexEntry>& entries) {
  SG_CHECK(shards.size() == entries.size(), "data: shard index of {}: {} shards but {} entries", dir, shards.size(),
           entries.size());
  // One line per shard: {"url": ..., "nsamples": ..., "filesize": ..., "bad": ..., "labels": [...]}
  std::string text = fmt::format("{{\"__kind__\": \"wids-shard-index-v1\", \"wids_version\": 1, \"name\": {},\n"
                                 " \"shardlist\": [\n", nlohmann::json(name).dump());
  for (size_t i = 0; i < shards.size(); ++i) {
    const fs::path p(shards[i]);
    SG_CHECK(fs::absolute(p.parent_path()).lexically_normal() == fs::absolute(fs::path(dir)).lexically_normal(),
             "data: shard index of {}: shard {} is in another folder", dir, shards[i]);
    const nlohmann::json entry = {{"url", p.filename().string()},
                                  {"nsamples", entries[i].samples},
                                  {"filesize", entries[i].filesize},
                                  {"bad", entries[i].bad},
                                  {"labels", entries[i].labels}};
    text += "  " + entry.dump() + (i + 1 < shards.size() ? ",\n" : "\n");
  }
  text += " ]}\n";
  write_file_atomic((fs::path(dir) / kShardIndexName).string(), text);
}

}  // namespace sg
