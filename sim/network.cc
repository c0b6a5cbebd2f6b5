#include "sim/network.h"

#include <algorithm>

#include <fmt/format.h>

namespace raftkv::sim {

Network::Network(int nodes, Rng* rng)
    : nodes_(nodes), rng_(rng), links_(static_cast<size_t>(nodes) * nodes) {}

std::vector<SimTime> Network::plan_delivery(NodeId from, NodeId to) {
  const LinkFaults& l = link(from, to);
  std::vector<SimTime> delays;
  if (l.cut || rng_->chance(l.loss)) return delays;
  const int copies = rng_->chance(l.duplicate) ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    SimTime delay = rng_->range(kMinDelayUs, kMaxDelayUs);
    if (rng_->chance(l.spike)) delay += rng_->range(kMaxDelayUs, kSpikeMaxUs);
    delays.push_back(delay);
  }
  return delays;
}

void Network::partition(const std::vector<NodeId>& side) {
  for (int a = 1; a <= nodes_; ++a) {
    for (int b = 1; b <= nodes_; ++b) {
      const bool a_in = std::find(side.begin(), side.end(), NodeId(a)) != side.end();
      const bool b_in = std::find(side.begin(), side.end(), NodeId(b)) != side.end();
      if (a_in != b_in) link(NodeId(a), NodeId(b)).cut = true;
    }
  }
}

void Network::cut_one_way(NodeId from, NodeId to) {
  link(from, to).cut = true;
}

void Network::reconnect_all() {
  for (LinkFaults& l : links_) l.cut = false;
}

void Network::randomize_link_quality(double max_loss, double max_duplicate, double max_spike) {
  for (LinkFaults& l : links_) {
    l.loss = max_loss * static_cast<double>(rng_->uniform(1001)) / 1000.0;
    l.duplicate = max_duplicate * static_cast<double>(rng_->uniform(1001)) / 1000.0;
    l.spike = max_spike * static_cast<double>(rng_->uniform(1001)) / 1000.0;
  }
}

void Network::heal() {
  for (LinkFaults& l : links_) l = LinkFaults{};
}

std::string Network::describe() const {
  std::string out;
  for (int a = 1; a <= nodes_; ++a) {
    for (int b = 1; b <= nodes_; ++b) {
      if (a == b) continue;
      const LinkFaults& l = link(NodeId(a), NodeId(b));
      if (l.cut) {
        out += fmt::format(" {}->{}:cut", a, b);
      } else if (l.loss > 0 || l.duplicate > 0 || l.spike > 0) {
        out += fmt::format(" {}->{}:loss={:.2f},dup={:.2f},spike={:.2f}", a, b, l.loss, l.duplicate,
                           l.spike);
      }
    }
  }
  return out.empty() ? " perfect" : out;
}

}  // namespace raftkv::sim
