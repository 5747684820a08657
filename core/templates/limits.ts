/**
 * Meta's length limits for template message parameters. Their own module because both the variable extraction
 * (each variable's maxLength) and the value rules (checks before sending) read them.
 */
export const LIMITS = {
	/** Header text including its parameter (Meta: 60 characters). */
	headerText: 60,
	/** Body text once parameters are filled in, when the template has other components (Meta: 1024). */
	bodyText: 1024,
	/** Same, when the body is the template's only component (Meta's "text" parameter reference: 32768). */
	bodyOnlyText: 32768,
	/** copy_code button coupon code (Meta: 15 characters). */
	couponCode: 15,
	/** Authentication one-time code (Meta: 15 characters). */
	otpCode: 15,
	/** Full button URL once the suffix is appended. Unconfirmed: 2000 is Meta's limit for the URL at template creation. */
	buttonUrl: 2000,
} as const;
