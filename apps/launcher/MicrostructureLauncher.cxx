/*=========================================================================
 *  The front of a command-line module that runs the networks: it answers
 *  --xml (how 3D Slicer asks a CLI to describe itself, at every Slicer start)
 *  from the description compiled into it, without loading LibTorch, and runs
 *  the module itself for everything else.
 *
 *  The module (the executable of the same name that links LibTorch, whose
 *  loading alone takes about 0.5 s) lives in SM_MODULE_FROM_CLI relative to this
 *  executable's folder (../libexec/StochasticMicrostructure: apps/CMakeLists.txt),
 *  outside the folder Slicer scans for modules.
 *  Everything but a lone --xml replaces this process with it (execv: the same
 *  process id, arguments, environment, standard streams and exit status), so
 *  callers, Slicer and the study see one program. The description was written
 *  by the module's own --xml at build time (SM_CLI_XML_HEADER), so the two agree.
 *=========================================================================*/
#include SM_CLI_XML_HEADER

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace
{
/** This executable's folder: /proc/self/exe (symbolic links resolved), else argv[0]'s. */
std::string
OwnFolder(const char * argv0)
{
  std::vector<char> path(4096);
  const ssize_t     n = readlink("/proc/self/exe", path.data(), path.size() - 1);
  std::string       self = n > 0 ? std::string(path.data(), static_cast<size_t>(n)) : std::string(argv0);
  const auto        slash = self.rfind('/');
  return slash == std::string::npos ? std::string(".") : self.substr(0, slash);
}
} // namespace

int
main(int argc, char * argv[])
{
  if (argc == 2 && std::strcmp(argv[1], "--xml") == 0)
  {
    std::fputs(kModuleDescriptionXml, stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  const std::string   module = OwnFolder(argv[0]) + "/" SM_MODULE_FROM_CLI "/" SM_CLI_NAME;
  std::vector<char *> args(argv, argv + argc);
  args.push_back(nullptr);
  execv(module.c_str(), args.data());
  std::fprintf(stderr,
               SM_CLI_NAME ": cannot run the module %s (%s): the build or installation is incomplete; "
                           "rebuild (bash scripts/setup.sh) or reinstall\n",
               module.c_str(),
               std::strerror(errno));
  return 127;
}
