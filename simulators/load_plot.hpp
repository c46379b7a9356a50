// load_plot: a load run's timeline as one SVG picture.
//
// Three panels over the run's seconds: answer latency (p50, p99, max per
// second, with the 10 ms target), calls up with the engine's CPU, and the
// packets lost per second at the engine's media sockets; above them, the
// run's headline figures. Plain SVG 1.1 written by hand (no library), so
// any browser or rsvg-convert shows it. Pure function: any thread.
#pragma once

#include <string>

#include "common/result.hpp"
#include "simulators/load.hpp"

namespace ccrec::pbxsim {

inline constexpr double load_latency_target_ms = 10.0;

std::string load_plot_svg(const load_report& report);

// Writes load_plot_svg(report) to `path`. Error "io" naming the path.
result<void> write_load_plot(const load_report& report, const std::string& path);

}  // namespace ccrec::pbxsim
