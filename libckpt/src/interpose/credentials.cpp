// A program that drops privileges keeps writing its images.
//
// ckpt-run creates the images directory (when it did not exist) as the
// user who launched the program, mode 0700. A program started as root that
// switches to another user (a daemon dropping to nobody) could then no
// longer create its images there. Before the switch, a directory ckpt-run
// made for this program (CKPT_IMAGES_CREATED) is given to the new user. A
// directory that existed already is left alone: its owner decides who may
// write there, and a checkpoint that cannot says which uid and directory.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"
#include "runtime/config.h"
#include "runtime/log.h"
#include "runtime/runtime.h"

using namespace ckpt;

#define CKPT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

void hand_over_images_dir(uid_t new_euid) {
  if (!runtime_active() || !g_config.images_dir_created || new_euid == uid_t(-1)) return;
  uid_t euid = geteuid();
  if (euid != 0 || new_euid == 0) return;  // only root can give a directory away
  struct stat sb;
  int saved_errno = errno;
  if (stat(g_config.images_dir, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == euid) {
    if (chown(g_config.images_dir, new_euid, uid_t(-1)) == 0)
      log_info(Msg() << "images directory " << g_config.images_dir << " given to uid " << uint64_t(new_euid)
                     << ", which the program switches to");
    else
      log_warning(Msg() << "cannot give the images directory " << g_config.images_dir << " to uid "
                        << uint64_t(new_euid) << ": " << errno_name(errno) << "; checkpoints will fail");
  }
  errno = saved_errno;
}

}  // namespace

CKPT_EXPORT int setuid(uid_t uid) {
  hand_over_images_dir(uid);
  return CKPT_REAL(setuid)(uid);
}

CKPT_EXPORT int seteuid(uid_t euid) {
  hand_over_images_dir(euid);
  return CKPT_REAL(seteuid)(euid);
}

CKPT_EXPORT int setreuid(uid_t ruid, uid_t euid) {
  hand_over_images_dir(euid);
  return CKPT_REAL(setreuid)(ruid, euid);
}

CKPT_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid) {
  hand_over_images_dir(euid);
  return CKPT_REAL(setresuid)(ruid, euid, suid);
}
