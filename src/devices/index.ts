export * from './bus.js';
export * from './serial.js';
export * from './i8042.js';
export * from './power.js';
export * from './rtc.js';
export * from './debug-port.js';
export * from './legacy.js';
