/**
 * What nvlb does with each HNV lookup-record rule (the `Rule` of
 * Get-NetVirtualizationLookupRecord), in one place for the validator, the PowerShell
 * import and the host emulator.
 *
 * - TranslationMethodEncap: the host reaches the VM through NVGRE. nvlb uses it.
 * - TranslationMethodNat: IP address rewrite. The host swaps the customer address for
 *   the provider address and sends the packet without NVGRE. nvlb reaches its backends
 *   only through NVGRE, and its engine writes no such rewrite: refused.
 * - TranslationMethodNone: no translation at all; the record says nothing about how to
 *   reach the VM through NVGRE: refused.
 */

export const ENCAP_RULE = 'TranslationMethodEncap'

const UNSUPPORTED: Record<string, string> = {
  TranslationMethodNat:
    'TranslationMethodNat is IP address rewrite (the host replaces the customer address with the provider address and ' +
    'sends the packet without NVGRE); nvlb reaches backends only through NVGRE, so it cannot use such a record ' +
    '(give the VM a TranslationMethodEncap record)',
  TranslationMethodNone:
    'TranslationMethodNone does no translation at all, so the record does not say how to reach the VM through NVGRE; ' +
    'nvlb cannot use it (give the VM a TranslationMethodEncap record)',
}

/** Why nvlb refuses a rule HNV knows, or undefined (Encap, or a name HNV does not have). */
export function unsupportedRuleReason(rule: unknown): string | undefined {
  return typeof rule === 'string' && Object.hasOwn(UNSUPPORTED, rule) ? UNSUPPORTED[rule] : undefined
}

/** The rule names HNV has that nvlb refuses. */
export const UNSUPPORTED_RULES = Object.keys(UNSUPPORTED)
