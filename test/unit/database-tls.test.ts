import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.ts';
import { databaseTls } from '../../shared/secrets.ts';

describe('databaseTls (the database secret decides nothing about certificates but on loopback)', () => {
  it('verifies the certificate for a secret in RDS format, which has no sslmode', () => {
    expect(
      databaseTls({
        host: 'payouts.proxy-abc.eu-central-1.rds.amazonaws.com',
        sslmode: 'verify-full',
      }),
    ).toEqual({
      rejectUnauthorized: true,
    });
  });

  it('connects without TLS to a loopback database whose secret says sslmode "disable"', () => {
    expect(databaseTls({ host: '127.0.0.1', sslmode: 'disable' })).toBe(false);
    expect(databaseTls({ host: '::1', sslmode: 'disable' })).toBe(false);
  });

  it('refuses sslmode "disable" for any host that is not a loopback address', () => {
    for (const host of [
      'payouts.proxy-abc.eu-central-1.rds.amazonaws.com',
      '10.0.3.17',
      'localhost',
      '127.0.0.1.example.com',
      '127.999.0.1',
    ]) {
      expect(() => databaseTls({ host, sslmode: 'disable' }), host).toThrow(ConfigError);
    }
  });
});
