/**
 * The ssh-agent message numbers and signature flags: the one table for all of Latch.
 * Source: draft-miller-ssh-agent (published as RFC 9987), "Message numbers" and
 * "Signature flags" in its IANA considerations (draft-miller-ssh-agent-04 §7.1, §7.3).
 */
export const AgentMsg = {
  SSH_AGENT_FAILURE: 5,
  SSH_AGENT_SUCCESS: 6,
  SSH_AGENTC_REQUEST_IDENTITIES: 11,
  SSH_AGENT_IDENTITIES_ANSWER: 12,
  SSH_AGENTC_SIGN_REQUEST: 13,
  SSH_AGENT_SIGN_RESPONSE: 14,
  SSH_AGENTC_ADD_IDENTITY: 17,
  SSH_AGENTC_REMOVE_IDENTITY: 18,
  SSH_AGENTC_REMOVE_ALL_IDENTITIES: 19,
  SSH_AGENTC_ADD_SMARTCARD_KEY: 20,
  SSH_AGENTC_REMOVE_SMARTCARD_KEY: 21,
  SSH_AGENTC_LOCK: 22,
  SSH_AGENTC_UNLOCK: 23,
  SSH_AGENTC_ADD_ID_CONSTRAINED: 25,
  SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED: 26,
  SSH_AGENTC_EXTENSION: 27,
  SSH_AGENT_EXTENSION_FAILURE: 28,
} as const;

/** Signature flags in SSH_AGENTC_SIGN_REQUEST (RSA only). */
export const AgentSignFlags = {
  SSH_AGENT_RSA_SHA2_256: 0x02,
  SSH_AGENT_RSA_SHA2_512: 0x04,
} as const;

/** Largest frame body we accept: 256 KiB (issue 3; OpenSSH's own limit is AGENT_MAX_LEN). */
export const AGENT_MAX_FRAME = 256 * 1024;

/** The Latch extension carrying a whole message to be SSHSIG-signed (docs/AGENT.md). */
export const SIGN_MESSAGE_EXTENSION = 'sign-message@latch.dev';
