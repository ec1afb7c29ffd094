// A static x86-64 Linux program for the guest that waits for one RTC update
// interrupt: open("/dev/rtc0"), ioctl(RTC_UIE_ON), read() one event, exit 0.
// Exit 1, 2 or 3 if the open, the ioctl or the read fails. Linux's RTC core builds
// update events on the RTC's alarm interrupt, so the read returns only if IRQ 8 fires.
import { staticElf } from './static-elf.js';

/** The machine code, as GNU as assembles it (path string at the end). */
const CODE = Buffer.from([
  '488d3d56000000', // lea rdi, [rip + path]
  '31f6', 'b802000000', '0f05', // xor esi, esi; mov eax, SYS_open; syscall
  '85c0', '782f', '89c3', // test eax, eax; js fail1; mov ebx, eax
  '89df', 'be03700000', '31d2', 'b810000000', '0f05', // ioctl(fd, RTC_UIE_ON = 0x7003, 0)
  '85c0', '7520', // test eax, eax; jnz fail2
  '89df', '488d7424f0', 'ba08000000', '31c0', '0f05', // read(fd, rsp - 16, 8)
  '83f808', '7512', // cmp eax, 8; jne fail3
  '31ff', 'eb13', // xor edi, edi; jmp done
  'bf01000000', 'eb0c', // fail1: mov edi, 1; jmp done
  'bf02000000', 'eb05', // fail2: mov edi, 2; jmp done
  'bf03000000', // fail3: mov edi, 3
  'b83c000000', '0f05', // done: mov eax, SYS_exit; syscall
  '2f6465762f7274633000', // path: "/dev/rtc0"
].join(''), 'hex');

export function rtcTickElf(): Uint8Array {
  return staticElf(CODE);
}
