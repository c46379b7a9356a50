#include "simulators/load_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <vector>

namespace ccrec::pbxsim {
namespace {

// Canvas and panel geometry, in SVG user units (pixels).
constexpr double width = 1000;
constexpr double margin_left = 80;
constexpr double margin_right = 80;
constexpr double header_height = 165;
constexpr double panel_height = 170;
constexpr double panel_gap = 55;
constexpr double footer_height = 50;
constexpr int panels = 3;
constexpr double height =
    header_height + panels * panel_height + (panels - 1) * panel_gap + footer_height;
constexpr double plot_width = width - margin_left - margin_right;
constexpr int max_ticks = 5;
constexpr double min_latency_axis_ms = 12.0;
constexpr double headroom = 1.15;
constexpr double clip_factor = 3.0;  // max latencies beyond 3x the p99 peak are clipped
constexpr double bytes_per_kib = 1024.0;

const char* const colour_p50 = "#2b6cb0";
const char* const colour_p99 = "#dd6b20";
const char* const colour_max = "#a0aec0";
const char* const colour_target = "#c53030";
const char* const colour_calls = "#bee3f8";
const char* const colour_calls_edge = "#3182ce";
const char* const colour_cpu = "#2d3748";
const char* const colour_loss = "#e53e3e";
const char* const colour_good = "#2f855a";
const char* const colour_grid = "#e2e8f0";
const char* const colour_text = "#1a202c";
const char* const colour_muted = "#718096";

std::string num(double v, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A round step (1, 2 or 5 times a power of ten) giving at most max_ticks
// intervals up to `top`.
double nice_step(double top) {
  if (top <= 0)
    return 1;
  const double raw = top / max_ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw)
      return m * power;
  }
  return 10 * power;
}

double nice_top(double top) {
  const double step = nice_step(top);
  return std::max(step, std::ceil(top / step) * step);
}

std::string label(double v) {
  if (v >= 1'000'000)
    return num(v / 1'000'000, v >= 10'000'000 ? 0 : 1) + "M";
  if (v >= 10'000)
    return num(v / 1000, 0) + "k";
  if (v == std::floor(v))
    return num(v, 0);
  return num(v, 1);
}

class svg {
 public:
  svg() {
    out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\""
         << height << "\" viewBox=\"0 0 " << width << " " << height
         << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
         << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  }

  void line(double x1, double y1, double x2, double y2, const char* colour, double w = 1,
            const char* dash = nullptr) {
    out_ << "<line x1=\"" << num(x1) << "\" y1=\"" << num(y1) << "\" x2=\"" << num(x2) << "\" y2=\""
         << num(y2) << "\" stroke=\"" << colour << "\" stroke-width=\"" << w << "\"";
    if (dash)
      out_ << " stroke-dasharray=\"" << dash << "\"";
    out_ << "/>\n";
  }

  void rect(double x, double y, double w, double h, const char* fill, const char* extra = "") {
    out_ << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(w)
         << "\" height=\"" << num(h) << "\" fill=\"" << fill << "\" " << extra << "/>\n";
  }

  void text(double x, double y, const std::string& s, double size, const char* colour,
            const char* anchor = "start", const char* weight = "normal") {
    out_ << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" font-size=\"" << size
         << "\" fill=\"" << colour << "\" text-anchor=\"" << anchor << "\" font-weight=\"" << weight
         << "\">" << s << "</text>\n";
  }

  void polyline(const std::vector<std::pair<double, double>>& pts, const char* colour, double w) {
    if (pts.empty())
      return;
    out_ << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << w
         << "\" stroke-linejoin=\"round\" points=\"";
    for (auto [x, y] : pts)
      out_ << num(x) << "," << num(y) << " ";
    out_ << "\"/>\n";
  }

  void polygon(const std::vector<std::pair<double, double>>& pts, const char* fill) {
    out_ << "<polygon fill=\"" << fill << "\" stroke=\"none\" points=\"";
    for (auto [x, y] : pts)
      out_ << num(x) << "," << num(y) << " ";
    out_ << "\"/>\n";
  }

  void circle(double x, double y, double r, const char* fill) {
    out_ << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << r << "\" fill=\""
         << fill << "\"/>\n";
  }

  std::string finish() {
    out_ << "</svg>\n";
    return out_.str();
  }

 private:
  std::ostringstream out_;
};

// One panel: maps run time and a value to canvas coordinates.
struct panel {
  double top = 0;
  double t_max = 1;
  double y_max = 1;

  double x(double t) const { return margin_left + plot_width * std::clamp(t / t_max, 0.0, 1.0); }
  double y(double v) const {
    return top + panel_height - panel_height * std::clamp(v / y_max, 0.0, 1.0);
  }
  double bottom() const { return top + panel_height; }
};

void draw_frame(svg& s, const panel& p, const std::string& title, const std::string& unit) {
  const double step = nice_step(p.y_max);
  for (double v = 0; v <= p.y_max + step / 2; v += step) {
    s.line(margin_left, p.y(v), margin_left + plot_width, p.y(v), colour_grid);
    s.text(margin_left - 8, p.y(v) + 4, label(v), 11, colour_muted, "end");
  }
  const double t_step = nice_step(p.t_max);
  for (double t = 0; t <= p.t_max + t_step / 2; t += t_step)
    s.text(p.x(t), p.bottom() + 15, label(t) + " s", 11, colour_muted, "middle");
  s.line(margin_left, p.bottom(), margin_left + plot_width, p.bottom(), colour_muted);
  s.text(margin_left, p.top - 10, title, 14, colour_text, "start", "bold");
  s.text(margin_left - 8, p.top - 10, unit, 11, colour_muted, "end");
}

// Polylines through consecutive seconds that have a value.
void draw_series(svg& s, const panel& p, const std::vector<load_second>& tl,
                 const std::function<std::optional<double>(const load_second&)>& get,
                 const char* colour, double w) {
  std::vector<std::pair<double, double>> run;
  for (const auto& sec : tl) {
    auto v = get(sec);
    if (!v) {
      s.polyline(run, colour, w);
      run.clear();
      continue;
    }
    run.emplace_back(p.x(sec.t_s), p.y(*v));
  }
  s.polyline(run, colour, w);
}

void legend(svg& s, double x, double y, const char* colour, const std::string& name) {
  s.rect(x, y - 9, 14, 4, colour);
  s.text(x + 20, y - 3, name, 12, colour_text);
}

void draw_latency(svg& s, const panel& base, const load_report& r) {
  double p99_peak = 0;
  double max_peak = 0;
  for (const auto& sec : r.timeline) {
    p99_peak = std::max(p99_peak, sec.latency_p99_ms.value_or(0));
    max_peak = std::max(max_peak, sec.latency_max_ms.value_or(0));
  }
  panel p = base;
  const double wanted = max_peak <= clip_factor * p99_peak ? max_peak : p99_peak;
  p.y_max = nice_top(std::max(min_latency_axis_ms, wanted * headroom));
  draw_frame(s, p, "CTI call_answered to recording start (ms)", "ms");

  s.line(margin_left, p.y(load_latency_target_ms), margin_left + plot_width,
         p.y(load_latency_target_ms), colour_target, 1.5, "6,4");
  s.text(margin_left + plot_width + 6, p.y(load_latency_target_ms) + 4, "target", 11,
         colour_target);
  for (const auto& sec : r.timeline) {
    if (!sec.latency_max_ms)
      continue;
    const bool clipped = *sec.latency_max_ms > p.y_max;
    s.circle(p.x(sec.t_s), p.y(*sec.latency_max_ms), clipped ? 3.5 : 2,
             clipped ? colour_target : colour_max);
  }
  draw_series(
      s, p, r.timeline, [](const load_second& x) { return x.latency_p99_ms; }, colour_p99, 2);
  draw_series(
      s, p, r.timeline, [](const load_second& x) { return x.latency_p50_ms; }, colour_p50, 2);
  const double ly = p.top - 10;
  legend(s, margin_left + 390, ly + 4, colour_p50, "p50");
  legend(s, margin_left + 450, ly + 4, colour_p99, "p99");
  legend(s, margin_left + 510, ly + 4, colour_max, "max (red: off the scale)");
}

void draw_calls(svg& s, const panel& base, const load_report& r) {
  panel p = base;
  std::uint64_t top = r.options.calls;
  for (const auto& sec : r.timeline)
    top = std::max(top, sec.calls_up);
  p.y_max = nice_top(static_cast<double>(top) * 1.05);
  draw_frame(s, p, "Calls recording, and the engine's CPU", "calls");

  std::vector<std::pair<double, double>> area{{p.x(0), p.y(0)}};
  for (const auto& sec : r.timeline)
    area.emplace_back(p.x(sec.t_s), p.y(static_cast<double>(sec.calls_up)));
  if (!r.timeline.empty())
    area.emplace_back(p.x(r.timeline.back().t_s), p.y(0));
  s.polygon(area, colour_calls);
  draw_series(
      s, p, r.timeline, [](const load_second& x) { return std::optional<double>(x.calls_up); },
      colour_calls_edge, 1.5);

  // CPU on its own axis at the right: 100% is one core.
  double cpu_top = 100;
  for (const auto& sec : r.timeline)
    cpu_top = std::max(cpu_top, sec.engine_cpu_pct.value_or(0));
  panel cpu = p;
  cpu.y_max = nice_top(cpu_top);
  const double step = nice_step(cpu.y_max);
  for (double v = 0; v <= cpu.y_max + step / 2; v += step)
    s.text(margin_left + plot_width + 8, cpu.y(v) + 4, label(v) + "%", 11, colour_cpu);
  draw_series(
      s, cpu, r.timeline, [](const load_second& x) { return x.engine_cpu_pct; }, colour_cpu, 1.5);
  const double ly = p.top - 10;
  legend(s, margin_left + 390, ly + 4, colour_calls_edge, "calls recording");
  legend(s, margin_left + 530, ly + 4, colour_cpu, "engine CPU (right axis, 100% = 1 core)");
}

void draw_loss(svg& s, const panel& base, const load_report& r) {
  panel p = base;
  std::uint64_t top = 0;
  for (const auto& sec : r.timeline)
    top = std::max(top, sec.drops);
  p.y_max = nice_top(std::max<double>(10, static_cast<double>(top) * headroom));
  draw_frame(s, p, "Packets dropped at the engine's media sockets, per second", "packets");

  const double bar = std::max(1.0, plot_width / std::max<double>(1, p.t_max) * 0.8);
  for (const auto& sec : r.timeline) {
    if (sec.drops == 0)
      continue;
    const double y = p.y(static_cast<double>(sec.drops));
    s.rect(p.x(sec.t_s) - bar, y, bar, p.bottom() - y, colour_loss);
  }
  if (top == 0)
    s.text(margin_left + plot_width / 2, p.top + panel_height / 2, "no packet dropped", 20,
           colour_good, "middle", "bold");

  // What was sent, on its own axis at the right: a dip is the generator
  // falling behind, not the engine.
  double sent_top = 0;
  for (const auto& sec : r.timeline)
    sent_top = std::max(sent_top, static_cast<double>(sec.packets_sent));
  panel sent = p;
  sent.y_max = nice_top(std::max(1.0, sent_top) * headroom);
  const double step = nice_step(sent.y_max);
  for (double v = 0; v <= sent.y_max + step / 2; v += step)
    s.text(margin_left + plot_width + 8, sent.y(v) + 4, label(v), 11, colour_muted);
  draw_series(
      s, sent, r.timeline,
      [](const load_second& x) { return std::optional<double>(x.packets_sent); }, colour_max, 1.5);
  legend(s, margin_left + 560, p.top - 6, colour_max, "packets sent/s (right axis)");
}

// A headline figure: big value, small caption.
void card(svg& s, double x, const std::string& value, const std::string& caption,
          const char* colour) {
  s.text(x, 98, value, 26, colour, "start", "bold");
  s.text(x, 118, caption, 12, colour_muted);
}

void draw_header(svg& s, const load_report& r) {
  const auto& o = r.options;
  s.text(margin_left, 34,
         "ccrec load test: " + std::to_string(o.calls) + " calls x 2 legs of G.711, " +
             label(o.duration_s) + " s",
         20, colour_text, "start", "bold");
  s.text(margin_left, 54,
         std::to_string(r.calls_recorded) + " calls recorded, " +
             label(static_cast<double>(r.packets_sent)) + " packets sent; load average " +
             num(r.load_average_start, 2) + " at the start",
         12, colour_muted);

  const double step = plot_width / 4;
  if (r.packets_lost) {
    const bool none = *r.packets_lost == 0;
    card(s, margin_left, std::to_string(*r.packets_lost), "packets lost or late",
         none ? colour_good : colour_loss);
  } else {
    card(s, margin_left, std::to_string(r.kernel_drops), "packets dropped (live view)",
         r.kernel_drops == 0 ? colour_good : colour_loss);
  }
  card(s, margin_left + step, num(r.latency.p99_ms, 2) + " ms", "answer latency p99",
       r.latency.p99_ms < load_latency_target_ms ? colour_good : colour_loss);
  if (r.engine) {
    card(s, margin_left + 2 * step, num(r.engine->cpu_avg_pct, 0) + "%", "engine CPU, average",
         colour_text);
    card(s, margin_left + 3 * step, num(r.engine->peak_bytes_per_call / bytes_per_kib, 1) + " KiB",
         "engine memory per call", colour_text);
  }
}

}  // namespace

std::string load_plot_svg(const load_report& r) {
  svg s;
  draw_header(s, r);
  panel p;
  p.t_max = r.timeline.empty() ? 1 : std::max(1.0, std::ceil(r.timeline.back().t_s));
  p.top = header_height;
  draw_latency(s, p, r);
  p.top += panel_height + panel_gap;
  draw_calls(s, p, r);
  p.top += panel_height + panel_gap;
  draw_loss(s, p, r);
  s.text(width / 2, height - 12, "time since the run started", 12, colour_muted, "middle");
  return s.finish();
}

result<void> write_load_plot(const load_report& report, const std::string& path) {
  std::ofstream out{path, std::ios::trunc};
  out << load_plot_svg(report);
  if (!out)
    return make_error("io", "cannot write the plot to " + path);
  return {};
}

}  // namespace ccrec::pbxsim
