// SnapshotView::write(): the state at I from the live engine plus the shadow.
//
// Notation: A = the apply thread, W = the thread running write(); "k was modified" = some
// engine write() after I changed kData key k (put or delete). A runs, per entry:
//   (a1) lock; for each kData key k of the batch not yet in the shadow: shadow[k] =
//        engine.get(k); unlock      (the first modification since I: the engine still holds
//                                    the value at I, so the pre-image is exact)
//   (a2) engine.write(batch).
// W repeats: (w1) scan a batch of (key, value) pairs from the engine in key order, starting
// after the last key handled; (w2) lock; merge them with the shadow; unlock. The merge emits,
// in key order: for a scanned key k, shadow[k] if k is in the shadow (nothing if that is
// "absent"), else the scanned value; for a shadow key strictly between two consecutive scanned
// keys (or before the first / after the last when the scan is complete), shadow[k] unless
// "absent". The shadow is consulted after the value was read (w2 after w1).
//
// Why the output is exactly the state at I, key by key (relying on the kData scan guarantee of
// engine.h, which the skiplist gives through release/acquire links and values):
//   1. A shadow entry always holds the value at I (a1 reads it before the key's first
//      modification; entries are never changed). So whenever the merge uses the shadow for k,
//      it emits k's state at I.
//   2. A scanned key k with value v, not in the shadow at w2: if v had been written after I,
//      that write's a2 happens-before W's read, its a1 (or an earlier one for k) before that,
//      and so the shadow entry before W's lookup under the same mutex: contradiction. So v was
//      not written after I: it is k's value at I (W starts after begin_snapshot()).
//   3. A scanned key k absent at I: the write that created it happens-before W's read, so k is
//      in the shadow (as "absent") at w2 and is skipped.
//   4. A key k present at I that the scan did not return: the scan guarantee says a write that
//      removed k (after I) happens-before W's read of the next scanned key (or the scan's end),
//      so k is in the shadow at the following w2 and is emitted from it as a gap key. A shadow
//      key found later than that is still emitted correctly by (1).
//   5. Each key is emitted at most once and in order: scanned keys strictly increase (each
//      batch starts after the previous batch's last key), and gap keys lie strictly between
//      them.
// Ending: apply() stops recording once the view has ended; every w2 checks `ended` under the
// mutex first, and a write W observed that was not recorded came after the end, so the next
// w2 (there is one after every w1) sees `ended` and the write fails instead of emitting it.
#include "kv/snapshot_view.h"

#include <utility>
#include <vector>

#include "base/assert.h"
#include "kv/snapshot_stream.h"

namespace raftkv::kv {
namespace detail {
namespace {

// Approximate heap cost of one shadow entry beyond its key and value bytes (map node, two
// std::string and an optional).
constexpr size_t kShadowEntryOverhead = 112;

}  // namespace

bool SnapshotShadow::record(const Engine& engine, const WriteBatch& batch) {
  std::lock_guard lock(mu);
  if (ended) return false;
  for (const WriteOp& op : batch.ops()) {
    if (op.space != Space::kData) continue;
    auto [it, inserted] = pre_images.try_emplace(op.key);
    if (!inserted) continue;  // only the first modification since I is recorded
    it->second = engine.get(Space::kData, op.key);
    bytes += kShadowEntryOverhead + op.key.size() + (it->second ? it->second->size() : 0);
  }
  return true;
}

void SnapshotShadow::end(bool cancel) {
  std::map<std::string, std::optional<std::string>, std::less<>> freed;
  {
    std::lock_guard lock(mu);
    ended = true;
    cancelled = cancelled || cancel;
    freed.swap(pre_images);
    bytes = 0;
  }
  // `freed` is destroyed here, outside the lock, so apply() is not held up by the free.
}

}  // namespace detail

namespace {

Status cancelled_status() {
  return Status(ErrorCode::kShutdown, "snapshot view cancelled");
}

// How many keys (scanned or shadow) one w2 merge step handles under the mutex.
constexpr size_t kMergeKeysPerLock = 1024;

}  // namespace

SnapshotView::SnapshotView(const Engine& engine, std::shared_ptr<detail::SnapshotShadow> shadow,
                           Index index, Term term, std::string meta_records, uint8_t format_version)
    : engine_(engine),
      shadow_(std::move(shadow)),
      index_(index),
      term_(term),
      meta_records_(std::move(meta_records)),
      format_version_(format_version) {}

SnapshotView::~SnapshotView() {
  shadow_->end(/*cancel=*/false);
}

void SnapshotView::cancel() {
  shadow_->end(/*cancel=*/true);
}

size_t SnapshotView::shadow_keys() const {
  std::lock_guard lock(shadow_->mu);
  return shadow_->pre_images.size();
}

size_t SnapshotView::shadow_bytes() const {
  std::lock_guard lock(shadow_->mu);
  return shadow_->bytes;
}

Status SnapshotView::write(const SnapshotSink& sink, const SnapshotWriteOptions& options) const {
  RAFTKV_ASSERT(options.scan_batch_keys > 0, "scan_batch_keys must be positive");
  snapshot_stream::Writer writer(sink, format_version_);
  detail::SnapshotShadow& shadow = *shadow_;
  const auto& pre_images = shadow.pre_images;
  // One scan batch, already encoded as stream records in key order (one buffer, no allocation
  // per key); `scanned_keys` locates each record and its key in it.
  struct ScannedKey {
    size_t record;  // offset of the record in `scanned`
    size_t key;     // offset of the key in `scanned`
    size_t key_size;
  };
  std::string scanned;
  std::vector<ScannedKey> scanned_keys;
  // Shadow records (pre-images) of one merge step, and the pieces of `scanned` and `shadowed`
  // to append, in order.
  std::string shadowed;
  struct Piece {
    bool from_shadowed;
    size_t begin, end;
  };
  std::vector<Piece> pieces;
  // Every key <= `last` has been handled (emitted or known absent at I); none when !has_last.
  std::string last;
  bool has_last = false;
  std::string start;
  bool scan_complete = false;
  while (!scan_complete) {
    // (w1) One bounded scan batch, after the last key handled.
    scanned.clear();
    scanned_keys.clear();
    bool stopped = false;
    start = last;
    if (has_last) start.push_back('\0');  // the smallest key greater than `last`
    engine_.scan(Space::kData, start, [&](std::string_view key, std::string_view value) {
      const size_t record = scanned.size();
      const size_t key_offset = snapshot_stream::append_record(scanned, Space::kData, key, value);
      scanned_keys.push_back({record, key_offset, key.size()});
      stopped = scanned_keys.size() >= options.scan_batch_keys ||
                scanned.size() >= options.scan_batch_bytes;
      return !stopped;
    });
    scan_complete = !stopped;
    if (options.after_scan_batch) options.after_scan_batch();
    const size_t count = scanned_keys.size();
    const auto key_at = [&](size_t i) {
      return std::string_view(scanned).substr(scanned_keys[i].key, scanned_keys[i].key_size);
    };
    const auto record_at = [&](size_t i) {
      return i < count ? scanned_keys[i].record : scanned.size();
    };

    // (w2) Merge the batch with the shadow, kMergeKeysPerLock keys per lock hold. Runs of
    // scanned keys without shadow entries pass through as one piece. The stream (and so the
    // sink) is written outside the lock.
    size_t i = 0;
    bool merged = false;
    while (!merged) {
      shadowed.clear();
      pieces.clear();
      {
        std::lock_guard lock(shadow.mu);
        if (shadow.ended) return cancelled_status();
        // The map does not change while the lock is held: one iterator walks it.
        auto it = has_last ? pre_images.upper_bound(last) : pre_images.begin();
        size_t run_begin = i;  // scanned records [run_begin, i) pass through unchanged
        const auto close_run = [&] {
          if (i > run_begin) pieces.push_back({false, record_at(run_begin), record_at(i)});
        };
        bool handled_any = false;
        std::string_view handled;  // the last key handled under this lock hold
        for (size_t steps = 0; steps < kMergeKeysPerLock; ++steps) {
          const bool has_scanned = i < count;
          // The next shadow key is handled now if it is not after the next scanned key, or,
          // when the batch is used up, only if the scan is complete (later keys belong to the
          // gaps of the next batch).
          if (it != pre_images.end() && (has_scanned ? it->first <= key_at(i) : scan_complete)) {
            close_run();
            if (it->second) {
              const size_t begin = shadowed.size();
              snapshot_stream::append_record(shadowed, Space::kData, it->first, *it->second);
              pieces.push_back({true, begin, shadowed.size()});
            }
            if (has_scanned && it->first == key_at(i)) ++i;  // modified since I: pre-image
            run_begin = i;
            handled = it->first;
            handled_any = true;
            ++it;
          } else if (has_scanned) {
            handled = key_at(i);
            handled_any = true;
            ++i;
          } else {
            merged = true;
            break;
          }
        }
        close_run();
        if (handled_any) {
          last.assign(handled);
          has_last = true;
        }
      }
      for (const Piece& piece : pieces) {
        const std::string& source = piece.from_shadowed ? shadowed : scanned;
        Status s =
            writer.append(std::string_view(source).substr(piece.begin, piece.end - piece.begin));
        if (!s.is_ok()) return s;
      }
    }
  }
  if (Status s = writer.append(meta_records_); !s.is_ok()) return s;
  {
    std::lock_guard lock(shadow.mu);
    if (shadow.cancelled) return cancelled_status();
  }
  return writer.finish();
}

std::string SnapshotView::write_to_string() const {
  std::string bytes;
  Status s = write([&](std::string_view chunk) {
    bytes.append(chunk);
    return Status::ok();
  });
  RAFTKV_ASSERT(s.is_ok(), "in-memory snapshot view write failed: {}", s.to_string());
  return bytes;
}

}  // namespace raftkv::kv
