#include "actors/recordings.hpp"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "actors/stored_audio.hpp"
#include "media/raw_format.hpp"

namespace ccrec {

bool verify_result::ok() const {
  return unreadable.empty() && report.state == crypto::ccenx_state::complete && raw_ok;
}

std::string verify_result::describe() const {
  using crypto::ccenx_state;
  auto chunks = std::to_string(report.chunks) + " chunks, " +
                std::to_string(report.plaintext_bytes) + " bytes";
  if (!unreadable.empty())
    return "FAIL " + path + ": " + unreadable;
  if (ok())
    return "OK " + path + ": complete, " + chunks + ", key " + std::to_string(report.header.key_id);
  if (report.state == ccenx_state::complete)
    return "FAIL " + path + ": decrypts, but the recording inside is damaged: " + raw_error;
  if (report.state == ccenx_state::interrupted && db_status == "complete")
    return "FAIL " + path +
           ": truncated: the database records it as complete, yet it ends "
           "without its final chunk (" +
           chunks + " authenticate)";
  // The reader names the file itself; the line names it once, first.
  auto reason = report.reason;
  if (reason.rfind(path + ": ", 0) == 0)
    reason.erase(0, path.size() + 2);
  return "FAIL " + path + ": " + crypto::to_string(report.state) + ": " + reason;
}

namespace {

// Decodes the record stream as it is decrypted; remembers the first error.
struct stream_check {
  media::raw_decoder decoder;
  std::string error;

  explicit stream_check(media::raw_decoder::record_sink sink) : decoder(std::move(sink)) {}
  void feed(const std::uint8_t* data, std::size_t size) {
    if (!error.empty())
      return;
    if (auto ok = decoder.feed(data, size); !ok)
      error = ok.error().message;
  }
  void finish() {
    if (error.empty()) {
      if (auto ok = decoder.finish(); !ok)
        error = ok.error().message;
    }
  }
};

// Reads a file that was written plain (encryption disabled) in pieces.
result<void> read_plain(const std::string& path, const crypto::plaintext_sink& sink) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error("io", "cannot open " + path);
  std::vector<char> buf(64 * 1024);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0)
      sink(reinterpret_cast<const std::uint8_t*>(buf.data()), got);
  }
  return {};
}

// True when `path` holds something other than a raw record stream
// (compressed, a WAV): stored_audio plays and verifies those.
bool is_stored_audio(const std::string& path) {
  if (crypto::has_ccenx_magic(path)) {
    auto header = crypto::read_ccenx_header(path);
    auto content = header ? static_cast<crypto::ccenx_content>(header->content_type)
                          : crypto::ccenx_content::raw_call_audio;
    return content != crypto::ccenx_content::raw_call_audio &&
           content != crypto::ccenx_content::screen;
  }
  std::ifstream in{path, std::ios::binary};
  std::uint8_t head[audio::sniff_bytes] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  auto kind = audio::sniff_content(head, static_cast<std::size_t>(in.gcount()));
  return kind != audio::content_kind::raw_stream && kind != audio::content_kind::unknown;
}

// A compressed or WAV file inside CCENX: every chunk must authenticate and
// the audio must decode to its end.
verify_result verify_stored_file(const std::string& path, const keyring& ring, verify_result out) {
  auto checked = verify_stored(path, ring);
  if (!checked) {
    out.report.state = crypto::ccenx_state::corrupt;
    out.report.code = checked.error().code;
    out.report.reason = checked.error().message;
    return out;
  }
  out.report = checked->report;
  out.records = checked->frames;
  return out;
}

}  // namespace

verify_result verify_recording(const std::string& path, const keyring& ring,
                               const std::string& db_status) {
  verify_result out;
  out.path = path;
  out.db_status = db_status;
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    out.unreadable = "not found";
    return out;
  }
  if (!std::filesystem::is_regular_file(status)) {
    out.unreadable = "not a file";
    return out;
  }
  if (crypto::has_ccenx_magic(path) && is_stored_audio(path))
    return verify_stored_file(path, ring, std::move(out));
  stream_check check{[&out](const media::raw_record&) { ++out.records; }};
  out.report = crypto::read_ccenx(path, ring.resolver(),
                                  [&](const std::uint8_t* d, std::size_t n) { check.feed(d, n); });
  if (out.report.state == crypto::ccenx_state::complete)
    check.finish();
  out.raw_ok = check.error.empty();
  out.raw_error = check.error;
  return out;
}

namespace {

result<play_result> play_stored_audio(const std::string& path, const keyring& ring,
                                      const std::string& wav_out) {
  auto played = play_stored(path, ring, wav_out);
  if (!played)
    return played.error();
  play_result out;
  out.report = played->report;
  out.stats.frames = played->frames;
  for (int leg = 0; leg < 2 && leg < played->format.channels; ++leg)
    out.stats.leg_samples[leg] = played->frames;
  out.stats.metadata_json = played->comment;
  return out;
}

}  // namespace

result<play_result> play_recording(const std::string& path, const keyring& ring,
                                   const std::string& wav_out) {
  if (is_stored_audio(path))
    return play_stored_audio(path, ring, wav_out);
  media::wav_renderer renderer{wav_out};
  stream_check check{[&renderer](const media::raw_record& r) { renderer.add(r); }};
  auto feed = [&](const std::uint8_t* d, std::size_t n) { check.feed(d, n); };

  play_result out;
  if (crypto::has_ccenx_magic(path)) {
    if (ring.keys.empty())
      return encryption_disabled_error(path);
    out.report = crypto::read_ccenx(path, ring.resolver(), feed);
    if (out.report.state == crypto::ccenx_state::corrupt)
      return make_error(out.report.code, path + ": " + out.report.reason);
  } else if (auto ok = read_plain(path, feed); !ok) {
    return ok.error();
  }

  if (out.report.state == crypto::ccenx_state::complete || !crypto::has_ccenx_magic(path))
    check.finish();
  if (!check.error.empty())
    return make_error("raw_damaged", path + ": " + check.error);
  auto stats = renderer.finish();
  if (!stats)
    return stats.error();
  out.stats = std::move(*stats);
  return out;
}

}  // namespace ccrec
