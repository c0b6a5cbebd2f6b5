// ConcurrentSkipList: a property test against std::map, and concurrent readers beside a writer.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kv/skiplist.h"

namespace raftkv::kv {
namespace {

std::vector<std::pair<std::string, std::string>> contents_from(const ConcurrentSkipList& list,
                                                               std::string_view start) {
  std::vector<std::pair<std::string, std::string>> out;
  list.visit_from(start, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  return out;
}

TEST(SkipList, MatchesStdMapUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    ConcurrentSkipList list(seed);
    std::map<std::string, std::string> model;
    auto random_key = [&] {
      // Small key space so that overwrites and erases of present keys are frequent.
      std::string key = "k" + std::to_string(rng() % 300);
      if (rng() % 10 == 0) key.push_back('\0');
      return key;
    };
    for (int op = 0; op < 5000; ++op) {
      const uint64_t dice = rng() % 100;
      const std::string key = random_key();
      if (dice < 45) {
        const std::string value = std::to_string(rng());
        const bool inserted = list.put(key, value);
        ASSERT_EQ(inserted, model.count(key) == 0) << "seed " << seed;
        model[key] = value;
      } else if (dice < 70) {
        ASSERT_EQ(list.erase(key), model.erase(key) == 1) << "seed " << seed;
      } else if (dice < 90) {
        auto got = list.get(key);
        auto it = model.find(key);
        ASSERT_EQ(got.has_value(), it != model.end());
        if (got) {
          ASSERT_EQ(*got, it->second);
        }
        ASSERT_EQ(list.contains(key), it != model.end());
      } else if (dice < 99) {
        std::vector<std::pair<std::string, std::string>> expected(model.lower_bound(key),
                                                                  model.end());
        ASSERT_EQ(contents_from(list, key), expected) << "seed " << seed << " op " << op;
      } else {
        list.clear();
        model.clear();
      }
      ASSERT_EQ(list.size(), model.size());
    }
    std::vector<std::pair<std::string, std::string>> all(model.begin(), model.end());
    ASSERT_EQ(contents_from(list, ""), all);
  }
}

TEST(SkipList, RetiredObjectsAreReclaimedWithoutReaders) {
  ConcurrentSkipList list;
  for (int i = 0; i < 10000; ++i) list.put("k", std::to_string(i));
  EXPECT_LT(list.retired_count(), 300u);  // reclaimed in rounds, never unbounded
  EXPECT_EQ(*list.get("k"), "9999");
}

// One writer inserts, overwrites and erases keys whose values name their key; readers check
// that every value they see belongs to its key and that scans are strictly ordered. Run under
// ASan to catch use-after-free in reclamation.
TEST(SkipList, ConcurrentReadersSeeConsistentEntries) {
  ConcurrentSkipList list;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  auto key_of = [](uint64_t i) { return "key" + std::to_string(i % 512); };
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(static_cast<uint64_t>(r) + 100);
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string key = key_of(rng());
        if (auto v = list.get(key); v && v->rfind(key + "=", 0) != 0) failures.fetch_add(1);
        std::string previous;
        bool first = true;
        int visited = 0;
        list.visit_from(key_of(rng()), [&](std::string_view k, std::string_view v) {
          if (!first && !(previous < k)) failures.fetch_add(1);
          if (v.substr(0, k.size() + 1) != std::string(k) + "=") failures.fetch_add(1);
          previous = std::string(k);
          first = false;
          return ++visited < 50;
        });
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::mt19937_64 rng(42);
  for (uint64_t i = 0; i < 200000; ++i) {
    const std::string key = key_of(rng());
    if (rng() % 3 == 0) {
      list.erase(key);
    } else {
      list.put(key, key + "=" + std::to_string(i));
    }
    if (i % 50000 == 0) list.clear();
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0u);
}

}  // namespace
}  // namespace raftkv::kv
