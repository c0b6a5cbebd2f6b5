// The simulated network: decides, for each message, whether and when it arrives.
//
// Faults are per directed link: a link can be cut (a partition, symmetric or one-way), lose a
// fraction of its messages, duplicate them, and delay them; delays are drawn independently
// per message, so messages on one link are reordered. A cut link also drops messages that were
// in flight when it was cut (the harness asks link_up() again at delivery time).
//
// Thread-safety: none; one per simulated run. Determinism: every choice comes from the Rng.
#pragma once

#include <string>
#include <vector>

#include "base/ids.h"
#include "base/rng.h"
#include "sim/trace.h"

namespace raftkv::sim {

// Fault knobs of one directed link.
struct LinkFaults {
  bool cut = false;
  double loss = 0;       // probability a message is dropped
  double duplicate = 0;  // probability a delivered message arrives twice
  double spike = 0;      // probability a message takes a long detour (delay up to spike_max)
};

class Network {
 public:
  // Normal one-way delay is uniform in [min_delay, max_delay]; a spike adds up to spike_max.
  static constexpr SimTime kMinDelayUs = 100;
  static constexpr SimTime kMaxDelayUs = 4000;
  static constexpr SimTime kSpikeMaxUs = 150000;

  Network(int nodes, Rng* rng);

  // Arrival delays of the copies of one message sent now on from -> to (empty: lost).
  std::vector<SimTime> plan_delivery(NodeId from, NodeId to);
  bool link_up(NodeId from, NodeId to) const { return !link(from, to).cut; }

  // Cuts every link between `side` and the other nodes, both ways.
  void partition(const std::vector<NodeId>& side);
  // Cuts from -> to only (to -> from keeps working).
  void cut_one_way(NodeId from, NodeId to);
  // Reconnects every link (loss, duplication and spikes stay).
  void reconnect_all();
  // Gives every link random loss/duplication/spike rates up to the given maxima.
  void randomize_link_quality(double max_loss, double max_duplicate, double max_spike);
  // Back to a perfect network: every link up, no loss, duplication or spikes.
  void heal();

  // "1->2 cut, 2->3 loss 0.12 ..." for the trace: only links with a fault.
  std::string describe() const;

 private:
  LinkFaults& link(NodeId from, NodeId to) {
    return links_[(from.value() - 1) * static_cast<size_t>(nodes_) + (to.value() - 1)];
  }
  const LinkFaults& link(NodeId from, NodeId to) const {
    return links_[(from.value() - 1) * static_cast<size_t>(nodes_) + (to.value() - 1)];
  }

  int nodes_;
  Rng* rng_;
  std::vector<LinkFaults> links_;  // row-major [from-1][to-1]
};

}  // namespace raftkv::sim
