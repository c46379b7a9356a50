// screen_frames: synthetic agent-desktop frames in the CCSF datagram format.
//
// docs/cti-protocol.md: "CCSF", u32 big-endian frame number, u32 big-endian
// milliseconds since the start of the screen stream, then the frame bytes.
// The picture is a 64x48 8-bit grey gradient that shifts with the frame
// number, with a white vertical bar whose column is the frame number modulo
// the width, so a recording shows motion and each frame can be told apart.
// Pure functions: any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ccrec::pbxsim {

inline constexpr std::size_t screen_width = 64;
inline constexpr std::size_t screen_height = 48;
inline constexpr std::size_t screen_header_bytes = 12;
inline constexpr std::size_t screen_frame_bytes =
    screen_header_bytes + screen_width * screen_height;  // 3,084 bytes, under 4 KB
inline constexpr std::size_t screen_bar_width = 2;
inline constexpr std::uint8_t screen_bar_value = 0xff;
inline constexpr std::chrono::milliseconds screen_frame_interval{200};  // 5 frames/s
inline constexpr char screen_magic[4] = {'C', 'C', 'S', 'F'};

// The whole datagram for frame `frame_no` stamped `timestamp_ms`.
std::vector<std::uint8_t> make_screen_frame(std::uint32_t frame_no, std::uint32_t timestamp_ms);

// The pixel at (x, y) of frame `frame_no`, as make_screen_frame draws it.
std::uint8_t screen_pixel(std::uint32_t frame_no, std::size_t x, std::size_t y);

}  // namespace ccrec::pbxsim
