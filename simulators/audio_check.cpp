#include "simulators/audio_check.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "media/g711.hpp"
#include "media/rtp.hpp"

namespace ccrec::pbxsim {

namespace {

constexpr std::size_t needle_bytes = 32;
constexpr std::size_t min_distinct_bytes = 8;  // below: silence-like, may occur by chance

struct wav_audio {
  std::uint64_t frames = 0;
  std::vector<std::int16_t> channels[2];
};

std::uint32_t le32(const std::uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::uint16_t le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

// Reads a 16-bit 8 kHz stereo PCM WAV; anything else is an error.
result<wav_audio> read_wav(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 ||
      std::memcmp(bytes.data() + 8, "WAVE", 4) != 0)
    return make_error("bad_wav", path + " is not a RIFF/WAVE file");

  bool format_ok = false;
  for (std::size_t at = 12; at + 8 <= bytes.size();) {
    auto size = le32(&bytes[at + 4]);
    const auto* body = &bytes[at + 8];
    if (std::memcmp(&bytes[at], "fmt ", 4) == 0 && size >= 16)
      format_ok =
          le16(body) == 1 && le16(body + 2) == 2 && le32(body + 4) == 8000 && le16(body + 14) == 16;
    if (std::memcmp(&bytes[at], "data", 4) == 0) {
      if (!format_ok)
        return make_error("bad_wav", path + " is not 16-bit 8 kHz stereo PCM");
      wav_audio out;
      auto available = std::min<std::uint64_t>(size, bytes.size() - at - 8);
      out.frames = available / 4;
      for (auto& c : out.channels)
        c.resize(out.frames);
      for (std::uint64_t i = 0; i < out.frames; ++i) {
        out.channels[0][i] = static_cast<std::int16_t>(le16(body + 4 * i));
        out.channels[1][i] = static_cast<std::int16_t>(le16(body + 4 * i + 2));
      }
      return out;
    }
    at += 8 + size + (size & 1);
  }
  return make_error("bad_wav", path + " has no data chunk");
}

// The leg's expected samples by position relative to its earliest timestamp;
// `covered` marks positions some packet fills.
struct expected_leg {
  std::vector<std::int16_t> samples;
  std::vector<bool> covered;
  std::uint64_t count = 0;
};

result<expected_leg> expected_audio(const media_leg& leg) {
  struct frame {
    std::int64_t position;
    std::uint8_t payload_type;
    std::vector<std::uint8_t> payload;
  };
  std::vector<frame> frames;
  std::set<std::uint16_t> seen;
  std::uint32_t ssrc = 0;
  std::uint32_t first_ts = 0;
  for (const auto& p : leg.packets) {
    media::rtp_packet rtp;
    if (media::parse_rtp(p.bytes.data(), p.bytes.size(), rtp) != media::rtp_error::none ||
        (rtp.payload_type != media::pt_pcmu && rtp.payload_type != media::pt_pcma))
      continue;
    if (frames.empty()) {
      ssrc = rtp.ssrc;
      first_ts = rtp.timestamp;
    } else if (rtp.ssrc != ssrc) {
      return make_error("several_ssrc", "leg " + leg.name +
                                            " changes SSRC; its samples are placed by arrival "
                                            "time and cannot be checked sample-exactly");
    }
    if (!seen.insert(rtp.seq).second)
      continue;  // a duplicate: the recorder keeps the first copy
    auto position = static_cast<std::int64_t>(static_cast<std::int32_t>(rtp.timestamp - first_ts));
    frames.push_back({position, rtp.payload_type, {rtp.payload, rtp.payload + rtp.payload_size}});
  }

  std::int64_t lowest = 0;
  std::int64_t end = 0;
  for (const auto& f : frames) {
    lowest = std::min(lowest, f.position);
    end = std::max(end, f.position + static_cast<std::int64_t>(f.payload.size()));
  }
  expected_leg out;
  out.samples.assign(static_cast<std::size_t>(end - lowest), 0);
  out.covered.assign(out.samples.size(), false);
  for (const auto& f : frames) {
    for (std::size_t i = 0; i < f.payload.size(); ++i) {
      auto at = static_cast<std::size_t>(f.position - lowest) + i;
      out.samples[at] = media::g711_to_linear(f.payload_type, f.payload[i]);
      out.covered[at] = true;
      ++out.count;
    }
  }
  return out;
}

leg_check compare_leg(const media_leg& leg, const std::vector<std::int16_t>& channel) {
  leg_check check;
  check.name = leg.name;
  auto expected = expected_audio(leg);
  if (!expected) {
    check.detail = expected.error().message;
    return check;
  }
  check.expected_samples = expected->count;

  // Where the leg starts in the WAV: its first audible sample must line up
  // with the channel's first audible sample.
  auto first_nonzero = [](const std::vector<std::int16_t>& v) -> std::int64_t {
    auto it = std::find_if(v.begin(), v.end(), [](std::int16_t s) { return s != 0; });
    return it == v.end() ? -1 : it - v.begin();
  };
  auto e0 = first_nonzero(expected->samples);
  auto c0 = first_nonzero(channel);
  if (e0 < 0 || c0 < 0) {
    check.detail = e0 < 0 ? "the leg sent only silence" : "the channel is silent";
    check.ok = e0 < 0 && c0 < 0;
    return check;
  }
  check.offset = c0 - e0;

  for (std::size_t j = 0; j < channel.size(); ++j) {
    auto rel = static_cast<std::int64_t>(j) - check.offset;
    bool inside = rel >= 0 && rel < static_cast<std::int64_t>(expected->samples.size());
    auto want = inside && expected->covered[rel] ? expected->samples[rel] : std::int16_t{0};
    check.mismatches += channel[j] != want ? 1 : 0;
  }
  bool fits =
      check.offset >= 0 && check.offset + static_cast<std::int64_t>(expected->samples.size()) <=
                               static_cast<std::int64_t>(channel.size());
  check.ok = check.mismatches == 0 && fits;
  if (!fits)
    check.detail = "the leg does not fit inside the WAV";
  else if (check.mismatches > 0)
    check.detail = std::to_string(check.mismatches) + " samples differ from what was sent";
  return check;
}

bool near_constant(const std::uint8_t* data, std::size_t size) {
  std::set<std::uint8_t> distinct(data, data + size);
  return distinct.size() < min_distinct_bytes;
}

}  // namespace

result<call_check> check_call_audio(const media_call& sent, const std::string& wav_path) {
  auto wav = read_wav(wav_path);
  if (!wav)
    return wav.error();

  call_check out;
  out.wav_path = wav_path;
  out.wav_frames = wav->frames;
  out.ok = true;
  for (std::size_t i = 0; i < sent.legs.size() && i < 2; ++i) {
    out.legs.push_back(compare_leg(sent.legs[i], wav->channels[i]));
    out.ok = out.ok && out.legs.back().ok;
  }
  // A one-leg call: the other channel must be silence throughout.
  if (sent.legs.size() == 1) {
    leg_check silent;
    silent.name = "(no second leg)";
    silent.mismatches = static_cast<std::uint64_t>(std::count_if(
        wav->channels[1].begin(), wav->channels[1].end(), [](std::int16_t s) { return s != 0; }));
    silent.ok = silent.mismatches == 0;
    if (!silent.ok)
      silent.detail = "the channel without a leg is not silent";
    out.ok = out.ok && silent.ok;
    out.legs.push_back(silent);
  }
  return out;
}

plaintext_scan scan_for_plaintext(const std::string& dir, const std::vector<media_call>& calls) {
  // Fragment -> description of where it came from.
  std::map<std::string, std::string> needles;
  for (const auto& call : calls) {
    for (const auto& leg : call.legs) {
      for (const auto& p : leg.packets) {
        media::rtp_packet rtp;
        if (media::parse_rtp(p.bytes.data(), p.bytes.size(), rtp) != media::rtp_error::none ||
            rtp.payload_size < needle_bytes || near_constant(rtp.payload, needle_bytes))
          continue;
        needles.emplace(std::string{reinterpret_cast<const char*>(rtp.payload), needle_bytes},
                        "leg " + leg.name + " packet seq " + std::to_string(rtp.seq));
      }
    }
  }

  plaintext_scan out;
  out.needles = needles.size();
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file())
      continue;
    std::ifstream in{it->path(), std::ios::binary};
    std::string content{std::istreambuf_iterator<char>(in), {}};
    ++out.files;
    out.bytes += content.size();
    for (const auto& [needle, where] : needles) {
      if (content.find(needle) != std::string::npos) {
        out.hits.push_back(it->path().string() + ": payload of " + where);
        break;
      }
    }
  }
  return out;
}

}  // namespace ccrec::pbxsim
