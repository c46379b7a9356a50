#include "actors/call_xml.hpp"

#include <ctime>
#include <filesystem>

#include "actors/recording_session.hpp"
#include "crypto/ccenx.hpp"
#include "crypto/secret.hpp"

namespace ccrec {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
          out += "?";
        else
          out += c;
    }
  }
  return out;
}

std::string iso_time(std::int64_t ms) {
  if (ms == 0)
    return "";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string{buf} + millis;
}

void element(std::string& out, const std::string& indent, const std::string& name,
             const std::string& value) {
  out += indent + "<" + name + ">" + escape(value) + "</" + name + ">\n";
}

}  // namespace

std::string render_call_xml(const call_xml_facts& f) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<call id=\"" + escape(f.call.call_id) + "\">\n";
  element(out, "  ", "pbx", f.pbx);
  element(out, "  ", "direction", f.call.direction);
  out += "  <parties>\n";
  element(out, "    ", "from", f.call.from_number);
  element(out, "    ", "to", f.call.to_number);
  out += "  </parties>\n";
  element(out, "  ", "agent", f.call.agent);
  element(out, "  ", "queue", f.call.queue);
  out += "  <times>\n";
  element(out, "    ", "offered", iso_time(f.call.offered_ms));
  element(out, "    ", "answered", iso_time(f.call.answered_ms));
  element(out, "    ", "recording_started", iso_time(f.started_ms));
  element(out, "    ", "recording_ended", iso_time(f.ended_ms));
  out += "  </times>\n";
  element(out, "  ", "schedule", f.schedule);
  out += "  <recording id=\"" + escape(f.recording_id) + "\" method=\"" + escape(f.method) +
         "\" metadata_xml=\"" + escape(f.xml_policy) + "\">\n";
  for (const auto& file : f.files)
    out += "    <file kind=\"" + escape(file.kind) + "\" status=\"" + escape(file.status) + "\">" +
           escape(file.path) + "</file>\n";
  out += "  </recording>\n";
  out += "</call>\n";
  return out;
}

std::string call_xml_relative_path(const std::string& recording_id, std::int64_t started_ms,
                                   bool encrypted) {
  auto audio =
      std::filesystem::path{recording_relative_path(recording_id, started_ms, "audio", encrypted)};
  return (audio.parent_path() / (recording_id + (encrypted ? ".xml.ccenx" : ".xml"))).string();
}

result<void> write_call_xml(const std::string& recordings_dir, const std::string& relative,
                            const std::string& text, xml_writer_kind kind, const key_grant& grant) {
  if (kind == xml_writer_kind::none)
    return {};
  const auto path = recordings_dir + "/" + relative;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path{path}.parent_path(), ec);
  auto sink = crypto::open_file_sink(path);
  if (!sink)
    return sink.error();
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());

  if (kind == xml_writer_kind::plain) {
    if (auto ok = (*sink)->write(bytes, text.size()); !ok)
      return ok;
    return (*sink)->sync();
  }
  if (!grant.key)
    return make_error("no_key", "no master key to encrypt " + path);
  auto writer =
      crypto::ccenx_writer::create(std::move(*sink), static_cast<std::uint64_t>(grant.key_id),
                                   *grant.key, crypto::ccenx_content::metadata);
  if (!writer)
    return writer.error();
  if (auto ok = (*writer)->append(bytes, text.size()); !ok)
    return ok;
  return (*writer)->finish();
}

}  // namespace ccrec
