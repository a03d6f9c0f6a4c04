// Preloaded (`node --require`) by the bench into processes that run a bundle against fauxqs:
// `*.localhost` resolves to 127.0.0.1, as fauxqs's interceptLocalhostDns() does in-process.
const dns = require('node:dns');

const lookup = dns.lookup;
dns.lookup = function localhostLookup(hostname, options, callback, ...rest) {
  if (typeof hostname === 'string' && hostname.endsWith('.localhost')) {
    const done = typeof options === 'function' ? options : callback;
    if (typeof options === 'object' && options?.all) {
      done(null, [{ address: '127.0.0.1', family: 4 }]);
    } else {
      done(null, '127.0.0.1', 4);
    }
    return;
  }
  return lookup.call(this, hostname, options, callback, ...rest);
};
