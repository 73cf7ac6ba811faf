/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureIO.h"
#include "itkMicrostructureHash.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace itk
{
namespace
{
/** This machine and PID namespace, as 8 hexadecimal digits: a temporary's process id means
 * something (is checked in /proc) only where its token is this one. */
const std::string &
HostToken()
{
  static const std::string token = [] {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    std::error_code ec;
    const auto      ns = std::filesystem::read_symlink("/proc/self/ns/pid", ec); // e.g. "pid:[4026531836]"
    char            hex[17];
    std::snprintf(hex,
                  sizeof(hex),
                  "%016llx",
                  static_cast<unsigned long long>(MicrostructureHash(std::string(host) + "|" + ns.string())));
    return std::string(hex, 8);
  }();
  return token;
}

std::string
TemporarySibling(const std::string & finalPath)
{
  namespace fs = std::filesystem;
  const fs::path p(finalPath);
  // Keep the full extension chain (.nii.gz, .nrrd, .png) so ITK picks the same IO.
  const std::string  name = p.filename().string();
  const auto         dot = name.find('.');
  const std::string  stem = dot == std::string::npos ? name : name.substr(0, dot);
  const std::string  ext = dot == std::string::npos ? "" : name.substr(dot);
  std::random_device rd;
  const std::string  tag = std::to_string(::getpid()) + "-" + HostToken() + "-" + std::to_string(rd() % 1000000);
  return (p.parent_path() / ("." + stem + ".tmp-" + tag + ext)).string();
}

/** Whether process `pid` of this PID namespace is running (a zombie counts: it may not be reaped). */
bool
ProcessIsRunning(long pid)
{
  if (pid <= 0 || pid == static_cast<long>(::getpid()))
    return pid > 0;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

/** Folders already cleaned by this process (once each: a folder of thousands of outputs is read once). */
std::mutex            g_CleanedMutex;
std::set<std::string> g_CleanedFolders;
} // namespace

std::size_t
RemoveStaleTemporaryFiles(const std::string & folder, std::chrono::seconds foreignAge)
{
  namespace fs = std::filesystem;
  // .<stem>.tmp-<pid>-<token>-<random><ext> (this build) or .<stem>.tmp-<pid>-<random><ext> (before
  // the token existed); the stem has no dot, the extension starts at the first dot after the tag.
  static const std::regex pattern(R"(^\.[^.]*\.tmp-([0-9]{1,10})-(?:([0-9a-f]{8})-)?[0-9]{1,6}(\..*)?$)");
  std::size_t             removed = 0;
  std::error_code         ec;
  const fs::path          dir = folder.empty() ? fs::path(".") : fs::path(folder);
  const auto              now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
  {
    const std::string name = it->path().filename().string();
    std::smatch       m;
    if (name.size() < 8 || name[0] != '.' || !std::regex_match(name, m, pattern))
      continue;
    std::error_code e;
    // Only a regular file, never a link (nor what it points to), a folder or a device.
    if (!fs::is_regular_file(it->symlink_status(e)) || e)
      continue;
    bool stale = false;
    if (m[2].matched && m[2].str() == HostToken())
    {
      stale = !ProcessIsRunning(std::stol(m[1].str())); // its writer, on this machine, is gone
    }
    else
    {
      // Written on another machine or PID namespace (a shared folder), or by a build before the token:
      // the process id says nothing here, so only a temporary untouched for `foreignAge` goes.
      const auto written = fs::last_write_time(it->path(), e);
      stale = !e && now - written > foreignAge;
    }
    if (stale && fs::remove(it->path(), e) && !e)
      ++removed;
  }
  return removed;
}

AtomicOutputFile::AtomicOutputFile(std::string finalPath)
  : m_FinalPath(std::move(finalPath))
  , m_TemporaryPath(TemporarySibling(m_FinalPath))
{
  // Temporaries that writers killed before they could remove them (SIGKILL, a power cut) are
  // removed by the next write to their folder, once per folder and process; best effort.
  const std::string folder = std::filesystem::path(m_FinalPath).parent_path().string();
  bool              first = false;
  {
    std::lock_guard<std::mutex> lock(g_CleanedMutex);
    first = g_CleanedFolders.insert(folder.empty() ? "." : folder).second;
  }
  if (first)
  {
    try
    {
      RemoveStaleTemporaryFiles(folder);
    }
    catch (const std::exception &)
    {} // never a reason for a write to fail
  }
}

AtomicOutputFile::~AtomicOutputFile()
{
  if (!m_Committed)
  {
    std::error_code ec;
    std::filesystem::remove(m_TemporaryPath, ec);
  }
}

void
AtomicOutputFile::Fail(const std::string & what) const
{
  // Name the user's path, not the temporary one.
  std::string reason = what;
  for (std::size_t at = reason.find(m_TemporaryPath); !m_TemporaryPath.empty() && at != std::string::npos;
       at = reason.find(m_TemporaryPath, at + m_FinalPath.size()))
  {
    reason.replace(at, m_TemporaryPath.size(), m_FinalPath);
  }
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ' || reason.back() == '.'))
  {
    reason.pop_back();
  }
  itkGenericExceptionMacro(<< "Could not write '" << m_FinalPath << "': " << reason
                           << ". Check the free space on the disk and the permissions of the folder, then run again; "
                              "a file already at that path was left unchanged.");
}

void
AtomicOutputFile::WriteContents(const std::string & contents)
{
  const int fd = ::open(m_TemporaryPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
  {
    Fail(std::strerror(errno));
  }
  const char * p = contents.data();
  std::size_t  left = contents.size();
  while (left > 0)
  {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
    {
      continue;
    }
    if (n <= 0)
    {
      const std::string reason = n < 0 ? std::strerror(errno) : "nothing written";
      ::close(fd);
      Fail(reason);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0)
  {
    Fail(std::strerror(errno));
  }
  m_ExactSize = contents.size();
  m_HasExactSize = true;
}

void
AtomicOutputFile::Reserve(std::uintmax_t bytes)
{
  const int fd = ::open(m_TemporaryPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
  {
    Fail(std::strerror(errno));
  }
  const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  if (error != 0)
  {
    Fail(std::string(std::strerror(error)) + " (" + std::to_string(bytes) + " bytes could not be reserved)");
  }
}

void
AtomicOutputFile::Commit()
{
  namespace fs = std::filesystem;
  if (m_Committed)
  {
    return;
  }
  std::error_code ec;
  const auto      status = fs::status(m_TemporaryPath, ec);
  if (ec || !fs::is_regular_file(status))
  {
    Fail("the writer left no file (is the disk full?)");
  }
  const std::uintmax_t size = fs::file_size(m_TemporaryPath, ec);
  if (ec)
  {
    Fail(ec.message());
  }
  if (m_HasExactSize ? size != m_ExactSize : size < m_MinimumSize)
  {
    Fail("the writer left " + std::to_string(size) + " bytes where " +
         (m_HasExactSize ? std::to_string(m_ExactSize) : "at least " + std::to_string(m_MinimumSize)) +
         " were expected (is the disk full?)");
  }
  // Flush to the disk before the rename, so a crash cannot leave the final name on missing data.
  const int fd = ::open(m_TemporaryPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
  {
    Fail(std::strerror(errno));
  }
  if (::fsync(fd) != 0)
  {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    Fail(reason);
  }
  ::close(fd);
  fs::rename(m_TemporaryPath, m_FinalPath, ec);
  if (ec)
  {
    Fail("could not move the finished file into place (" + ec.message() + ")");
  }
  m_Committed = true;
  // Make the rename itself durable (best effort: some file systems refuse fsync on a folder).
  fs::path  dir = fs::path(m_FinalPath).parent_path();
  const int dirFd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0)
  {
    ::fsync(dirFd);
    ::close(dirFd);
  }
}

std::string
ReadRegularFile(const std::string & path, std::uintmax_t maximumBytes, const std::string & what)
{
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
  {
    itkGenericExceptionMacro(<< "'" << path << "': cannot open the " << what << " (" << std::strerror(errno)
                             << "). Check the path and its permissions.");
  }
  struct stat st
  {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
  {
    const char * kind = S_ISDIR(st.st_mode)                          ? "a folder"
                        : S_ISFIFO(st.st_mode)                       ? "a pipe (FIFO)"
                        : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                        : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                     : "not a regular file";
    ::close(fd);
    itkGenericExceptionMacro(<< "Cannot read the " << what << " '" << path << "': it is " << kind
                             << ", not a regular file. Give the path of the " << what << " itself.");
  }
  const auto size = static_cast<std::uintmax_t>(st.st_size);
  if (size > maximumBytes)
  {
    ::close(fd);
    itkGenericExceptionMacro(<< "Cannot read the " << what << " '" << path << "': it has " << size
                             << " bytes, more than the " << maximumBytes << " a " << what
                             << " can have. Check that this is the right file.");
  }
  std::string data(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < data.size())
  {
    const ssize_t n = ::read(fd, &data[done], data.size() - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
    {
      continue;
    }
    if (n <= 0)
    {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != data.size())
  {
    itkGenericExceptionMacro(<< "Could not read the " << what << " '" << path << "': " << done << " of its " << size
                             << " bytes could be read (the file changed while it was read, or a disk error). Try "
                                "again.");
  }
  return data;
}

void
CheckOutputPathWritable(const std::string & path)
{
  namespace fs = std::filesystem;
  if (path.empty())
  {
    itkGenericExceptionMacro(<< "An output file name is empty: give a path to write to.");
  }
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty())
  {
    dir = ".";
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
  {
    itkGenericExceptionMacro(<< "Cannot write '" << path << "': the folder '" << dir.string()
                             << "' does not exist. Create it first.");
  }
  if (::access(dir.c_str(), W_OK) != 0)
  {
    itkGenericExceptionMacro(<< "Cannot write '" << path << "': the folder '" << dir.string() << "' is not writable.");
  }
}

bool
IsInsideFolder(const std::string & path, const std::string & folder)
{
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path  p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec)
    return false;
  const fs::path f = fs::weakly_canonical(fs::absolute(folder, ec), ec);
  if (ec)
    return false;
  // Component by component: /data2/x is not inside /data.
  auto pi = p.begin();
  for (auto fi = f.begin(); fi != f.end(); ++fi)
  {
    if (fi->empty()) // a trailing separator
      continue;
    if (pi == p.end() || *pi != *fi)
      return false;
    ++pi;
  }
  return true;
}

namespace
{
std::string
Lowercase(std::string text)
{
  for (auto & c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/** The names a detached-data field names: "LIST" (the lines after it), "format min max step
 * [dim]" (its first and last names), or one file name. `rest`: the header's lines after it. */
std::vector<std::string>
DataFileNames(const std::string & value, const std::vector<std::string> & rest, const std::string & header)
{
  std::istringstream       words(value);
  std::vector<std::string> w;
  for (std::string t; words >> t;)
    w.push_back(t);
  if (w.empty())
    return {};
  if (w[0] == "LIST")
  {
    std::vector<std::string> names;
    for (const auto & line : rest)
      if (!line.empty())
        names.push_back(line);
    return names;
  }
  if (w.size() >= 4 && w[0].find('%') != std::string::npos)
  {
    // One integer conversion gives digits (and a sign or spaces), never a '/': every name lies in
    // the folder of the first. Any other conversion (%c of 47 is a '/') cannot be confined.
    if (!std::regex_match(w[0], std::regex(R"([^%]*%[-+ 0#]*[0-9]{0,3}[di][^%]*)")))
      itkGenericExceptionMacro(<< "'" << header << "': the data file pattern '" << w[0]
                               << "' has a conversion other than one integer (%d, %03d): its file names cannot be "
                                  "known, so it cannot be checked. Name the data files by a LIST or by %d.");
    std::vector<std::string> names;
    for (const std::string & n : { w[1], w[2] })
    {
      char buffer[4096];
      std::snprintf(buffer, sizeof(buffer), w[0].c_str(), static_cast<int>(std::strtol(n.c_str(), nullptr, 10)));
      names.emplace_back(buffer);
    }
    return names;
  }
  // One name: the whole value (a name may hold spaces).
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t\r");
  return { value.substr(first, last - first + 1) };
}
} // namespace

std::vector<std::string>
DetachedDataFiles(const std::string & path)
{
  namespace fs = std::filesystem;
  const fs::path           folder = fs::path(path).parent_path();
  std::vector<std::string> out;
  auto                     resolve = [&](const std::string & name) {
    out.push_back(fs::path(name).is_absolute() ? name : (folder / name).string());
  };
  const std::string lower = Lowercase(fs::path(path).filename().string());
  auto              endsWith = [&](const std::string & suffix) {
    return lower.size() >= suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // Analyze / NIfTI pairs: the header's data is the .img beside it.
  for (const auto & [hdr, img] : { std::pair<std::string, std::string>{ ".hdr", ".img" }, { ".hdr.gz", ".img.gz" } })
    if (endsWith(hdr))
    {
      const std::string data = path.substr(0, path.size() - hdr.size()) + img;
      std::error_code   ec;
      if (fs::exists(fs::symlink_status(data, ec)))
        out.push_back(data);
    }

  std::string head;
  {
    std::ifstream f(path, std::ios::binary);
    if (!f || !fs::is_regular_file(path))
      return out;
    head.resize(std::size_t{ 1 } << 20);
    f.read(&head[0], static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(f.gcount()));
  }
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < head.size();)
  {
    const auto  eol = head.find('\n', at);
    std::string line = head.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    lines.push_back(line);
    at = eol == std::string::npos ? head.size() : eol + 1;
  }
  if (head.compare(0, 7, "NRRD000") == 0)
  {
    // Fields "key: value" until the blank line that ends the header (then attached data).
    for (std::size_t i = 1; i < lines.size() && !lines[i].empty(); ++i)
    {
      const auto colon = lines[i].find(':');
      if (lines[i][0] == '#' || colon == std::string::npos)
        continue;
      // NrrdIO matches field names without regard to case ("DATA FILE:" is read too).
      const std::string key = Lowercase(lines[i].substr(0, colon));
      if (key == "data file" || key == "datafile")
      {
        const std::vector<std::string> rest(lines.begin() + static_cast<std::ptrdiff_t>(i) + 1, lines.end());
        for (const auto & n : DataFileNames(lines[i].substr(colon + 1), rest, path))
          resolve(n);
        break;
      }
    }
    return out;
  }
  // MetaImage (ITK reads a .mha or .mhd as one): "Key = Value" lines, ElementDataFile the last.
  if (!endsWith(".mha") && !endsWith(".mhd"))
    return out;
  for (std::size_t i = 0; i < lines.size(); ++i)
  {
    const auto eq = lines[i].find('=');
    if (eq == std::string::npos)
      continue;
    std::string key = lines[i].substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    key.erase(0, key.find_first_not_of(" \t"));
    if (Lowercase(key) != "elementdatafile")
      continue;
    const std::string  value = lines[i].substr(eq + 1);
    std::istringstream first(value);
    std::string        word;
    first >> word;
    if (word != "LOCAL" && !word.empty())
    {
      const std::vector<std::string> rest(lines.begin() + static_cast<std::ptrdiff_t>(i) + 1, lines.end());
      for (const auto & n : DataFileNames(value, rest, path))
        resolve(n);
    }
    break;
  }
  return out;
}

void
CheckReadConfined(const std::string & path, const std::string & folder, const std::string & what)
{
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto      shown = [&](const std::string & p) { return fs::weakly_canonical(fs::absolute(p, ec), ec).string(); };
  if (!IsInsideFolder(path, folder))
  {
    itkGenericExceptionMacro(<< what << " is '" << shown(path) << "', outside the folder '" << shown(folder)
                             << "' that reads are confined to (--confineReads). Move or copy the file into that "
                                "folder and list it by a path inside it, or leave out --confineReads if you trust "
                                "where the table points.");
  }
  for (const auto & data : DetachedDataFiles(path))
  {
    if (!IsInsideFolder(data, folder))
    {
      itkGenericExceptionMacro(<< what << " is '" << shown(path) << "', a header whose data file is '" << shown(data)
                               << "', outside the folder '" << shown(folder)
                               << "' that reads are confined to (--confineReads). Keep the image's data inside that "
                                  "folder (a data file named relative to its header), or leave out --confineReads if "
                                  "you trust the files.");
    }
  }
}

void
WriteTextFileAtomically(const std::string & path, const std::string & contents)
{
  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  out.WriteContents(contents);
  out.Commit();
}
} // end namespace itk
