/*=========================================================================
 * Test helper: a full disk, simulated by a file-size limit in a child process.
 *=========================================================================*/
#ifndef itkFullDiskTestHelper_h
#define itkFullDiskTestHelper_h

#include "itkMacro.h"

#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sm_test
{
/** Runs `write` in a child process whose files cannot grow past `limit` bytes (a full disk:
 * writes fail with EFBIG, SIGXFSZ ignored). Returns the child's exception message, or
 * "NO EXCEPTION" when `write` returned. */
inline std::string
ErrorOnFullDisk(rlim_t limit, const std::function<void()> & write)
{
  int fds[2];
  if (::pipe(fds) != 0)
  {
    return "pipe failed";
  }
  const pid_t pid = ::fork();
  if (pid == 0)
  {
    ::close(fds[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit r{ limit, limit };
    ::setrlimit(RLIMIT_FSIZE, &r);
    std::string message = "NO EXCEPTION";
    try
    {
      write();
    }
    catch (const itk::ExceptionObject & e)
    {
      message = e.GetDescription();
    }
    catch (const std::exception & e)
    {
      message = std::string("std::exception: ") + e.what();
    }
    (void)!::write(fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char        buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;)
  {
    message.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << "the child was killed by signal " << WTERMSIG(status);
  return message;
}

} // namespace sm_test

#endif
