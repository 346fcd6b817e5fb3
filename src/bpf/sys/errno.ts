// errno names and messages for the values bpf(2), netlink and mmap return on Linux.
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  6: ["ENXIO", "no such device or address"],
  7: ["E2BIG", "argument list too long"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  24: ["EMFILE", "too many open files"],
  25: ["ENOTTY", "inappropriate ioctl for device"],
  28: ["ENOSPC", "no space left on device"],
  34: ["ERANGE", "numerical result out of range"],
  38: ["ENOSYS", "function not implemented"],
  39: ["ENOTEMPTY", "directory not empty"],
  61: ["ENODATA", "no data available"],
  62: ["ETIME", "timer expired"],
  71: ["EPROTO", "protocol error"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  77: ["EBADFD", "file descriptor in bad state"],
  90: ["EMSGSIZE", "message too long"],
  93: ["EPROTONOSUPPORT", "protocol not supported"],
  95: ["EOPNOTSUPP", "operation not supported"],
  97: ["EAFNOSUPPORT", "address family not supported by protocol"],
  98: ["EADDRINUSE", "address already in use"],
  100: ["ENETDOWN", "network is down"],
  105: ["ENOBUFS", "no buffer space available"],
  110: ["ETIMEDOUT", "connection timed out"],
  114: ["EALREADY", "operation already in progress"],
  116: ["ESTALE", "stale handle (the attachment changed since it was read)"],
  524: ["ENOTSUPP", "operation not supported (kernel internal)"],
  526: ["ENOTSUPP", "operation not supported"],
};

export const errnoName = (errno: number): string => ERRNO[errno]?.[0] ?? `E${errno}`;
export const errnoMessage = (errno: number): string => ERRNO[errno]?.[1] ?? `errno ${errno}`;

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOTSUPP = 524;
export const EOPNOTSUPP = 95;
