/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureIO.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <unistd.h>

namespace itk
{
namespace
{
std::string
TemporarySibling(const std::string & finalPath)
{
  namespace fs = std::filesystem;
  const fs::path p(finalPath);
  // Keep the full extension chain (.nii.gz, .nrrd, .png) so ITK picks the same IO.
  const std::string name = p.filename().string();
  const auto        dot = name.find('.');
  const std::string stem = dot == std::string::npos ? name : name.substr(0, dot);
  const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
  std::random_device rd;
  const std::string  tag = std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
  return (p.parent_path() / ("." + stem + ".tmp-" + tag + ext)).string();
}
} // namespace

AtomicOutputFile::AtomicOutputFile(std::string finalPath)
  : m_FinalPath(std::move(finalPath))
  , m_TemporaryPath(TemporarySibling(m_FinalPath))
{}

AtomicOutputFile::~AtomicOutputFile()
{
  if (!m_Committed)
  {
    std::error_code ec;
    std::filesystem::remove(m_TemporaryPath, ec);
  }
}

void
AtomicOutputFile::Commit()
{
  std::error_code ec;
  std::filesystem::rename(m_TemporaryPath, m_FinalPath, ec);
  if (ec)
  {
    itkGenericExceptionMacro(<< "Could not move the finished file into place as '" << m_FinalPath
                             << "': " << ec.message() << ". Check that the folder is writable.");
  }
  m_Committed = true;
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
    itkGenericExceptionMacro(<< "Cannot write '" << path << "': the folder '" << dir.string()
                             << "' is not writable.");
  }
}

void
WriteTextFileAtomically(const std::string & path, const std::string & contents)
{
  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  {
    std::ofstream f(out.GetTemporaryPath(), std::ios::binary);
    f << contents;
    f.flush();
    if (!f)
    {
      itkGenericExceptionMacro(<< "Could not write '" << path << "': " << std::strerror(errno));
    }
  }
  out.Commit();
}
} // end namespace itk
