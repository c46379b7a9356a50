#include "simulators/screen_frames.hpp"

namespace ccrec::pbxsim {
namespace {

constexpr std::size_t gradient_x_step = 3;
constexpr std::size_t gradient_y_step = 2;

void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace

std::uint8_t screen_pixel(std::uint32_t frame_no, std::size_t x, std::size_t y) {
  const std::size_t bar_x = frame_no % screen_width;
  if (x >= bar_x && x < bar_x + screen_bar_width)
    return screen_bar_value;
  // Stays below the bar's white so the bar is always visible.
  return static_cast<std::uint8_t>((x * gradient_x_step + y * gradient_y_step + frame_no) % 0xf0);
}

std::vector<std::uint8_t> make_screen_frame(std::uint32_t frame_no, std::uint32_t timestamp_ms) {
  std::vector<std::uint8_t> frame(screen_frame_bytes);
  for (std::size_t i = 0; i < sizeof screen_magic; ++i) {
    frame[i] = static_cast<std::uint8_t>(screen_magic[i]);
  }
  put_be32(frame.data() + 4, frame_no);
  put_be32(frame.data() + 8, timestamp_ms);

  std::uint8_t* pixels = frame.data() + screen_header_bytes;
  for (std::size_t y = 0; y < screen_height; ++y) {
    for (std::size_t x = 0; x < screen_width; ++x) {
      pixels[y * screen_width + x] = screen_pixel(frame_no, x, y);
    }
  }
  return frame;
}

}  // namespace ccrec::pbxsim
