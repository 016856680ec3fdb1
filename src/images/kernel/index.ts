// Guest kernels: the bzImage container and the description of the vmlinux ELF inside it.

export * from './bzimage.js';
export * from './kernel.js';
