// shard_spec.h: the shard lists of WebDataset specs, as webdataset's braceexpand writes them.
//
//   "data/{00000..00099}.tar"  -> data/00000.tar ... data/00099.tar (numeric range; zero-padded to the wider end
//                                 when either end has a leading zero, as braceexpand pads)
//   "data/{a,b,c}.tar"         -> data/a.tar data/b.tar data/c.tar (comma list; braces nest and combine)
//   "data/x.tar"               -> itself
//   "a/{0..3}.tar,b/0.tar"     -> several specs, comma-separated outside braces, in order
// A spec names shards when each name it expands to ends in .tar, .tar.gz or .tgz.
#pragma once
#include <string>
#include <vector>

namespace sg {

// Expands braces; sg::Error naming the spec on an unbalanced brace, an empty list or a range of over 1,000,000.
std::vector<std::string> expand_braces(const std::string& spec);

// Whether `spec` is a shard spec (its expansion ends in a tar suffix); no file is read.
bool is_shard_spec(const std::string& spec);

// The shard paths of `spec` (expand_braces of each comma-separated part); sg::Error naming the spec and the first
// missing file when a shard does not exist.
std::vector<std::string> shard_paths(const std::string& spec);

}  // namespace sg
